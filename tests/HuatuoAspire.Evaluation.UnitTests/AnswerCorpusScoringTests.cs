using System.Globalization;
using HuatuoAspire.Evaluation;
using HuatuoAspire.ScriptedLlm;
using Xunit.Abstractions;

namespace HuatuoAspire.Evaluation.UnitTests;

/// <summary>
/// The harness measured against a corpus whose answers are known: scripted answers in many styles served over HTTP by
/// the scripted OpenAI-compatible endpoint, run through the runner and the results file, scored by the report.
/// </summary>
public sealed class AnswerCorpusScoringTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("huatuo-corpus-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<IReadOnlyList<QuestionResult>> ServeAndRunAsync(IReadOnlyList<BenchmarkQuestion> questions, Func<BenchmarkQuestion, string> answer)
    {
        var byPrompt = questions.ToDictionary(q => EvaluationRunner.BuildPrompt(q, strict: false));
        await using var server = await ScriptedChatServer.StartAsync(request => ScriptedReply.Text(answer(byPrompt[request.LastUserMessage])));
        var options = new EvaluationOptions { Model = "scripted-model", Concurrency = 8, MaxRetries = 0 };
        using var sink = new JsonlResultSink(Path.Combine(_dir, $"results-{Guid.NewGuid():N}.jsonl"));
        var results = await new EvaluationRunner(EvaluationRunner.CreateEndpoint(server.BaseUrl, options.Model, null, options), options).RunAsync(questions, sink);
        Assert.Equal(questions.Count, server.Requests.Count);
        return results;
    }

    [Fact]
    public async Task TheHonestHeadlineEqualsTheIntendedAccuracyOverTwelveAnswerStylesAndNoGarbageScoresCorrect()
    {
        var corpus = AnswerCorpus.Build(perStyle: 60);
        var byQuestion = corpus.ToDictionary(a => a.Question.Question);
        var results = (await ServeAndRunAsync(corpus.Select(a => a.Question).ToList(), q => byQuestion[q.Question].Output))
            .ToDictionary(r => r.Question);

        output.WriteLine("| style | answers | intended correct | scored correct | read as intended |");
        output.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var style in corpus.GroupBy(a => a.Style))
        {
            var read = style.Count(a => results[a.Question.Question].Extracted == a.IntendedLetter);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {style.Key} | {style.Count()} | {style.Count(a => a.IntendedCorrect)} | {style.Count(a => results[a.Question.Question].Correct)} | {read} |"));
            // Not tuned to one style: every style is read as a person reads it, nearly always.
            Assert.True(read >= style.Count() * 0.95, $"style '{style.Key}': only {read} of {style.Count()} read as intended");
        }

        var intended = corpus.Count(a => a.IntendedCorrect) / (double)corpus.Count;
        var headline = EvaluationReport.Score(results.Values).Single();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"intended {intended:P2}, headline {headline.Accuracy:P2} ({headline.Correct}/{headline.Total}), unparsed {headline.Unparsed}"));
        Assert.Equal(corpus.Count, headline.Total);
        Assert.InRange(headline.Accuracy, intended - 0.005, intended + 0.005);

        var garbage = corpus.Where(a => a.IntendedLetter is null).Select(a => results[a.Question.Question]).ToList();
        Assert.NotEmpty(garbage);
        Assert.All(garbage, r => Assert.False(r.Correct, $"garbage scored correct: {r.Output}"));
        Assert.All(garbage, r => Assert.Null(r.Extracted));
        Assert.Equal(garbage.Count, headline.Unparsed);
    }

    [Fact]
    public async Task AUniformlyRandomAnswererIsScoredWithinItsBinomialIntervalOfOneInK()
    {
        const int n = 800, k = 4;
        var rng = new Random(7);
        var questions = Enumerable.Range(0, n).Select(i => AnswerCorpus.Question(rng, "Random", i, optionCount: k)).ToList();
        var styles = AnswerCorpus.Styles.Where(s => s.Name != AnswerCorpus.Garbage).ToList();
        var picked = questions.ToDictionary(q => q.Index, q => q.Options[rng.Next(k)].Key);
        var answers = questions.ToDictionary(q => q.Index, q => styles[rng.Next(styles.Count)].Write(rng, q, picked[q.Index]));

        var score = EvaluationReport.Score(await ServeAndRunAsync(questions, q => answers[q.Index])).Single();

        var p = 1.0 / k;
        var halfWidth = 3.29 * Math.Sqrt(p * (1 - p) / n); // 99.9 %
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"random answerer: {score.Accuracy:P2} scored, interval {p - halfWidth:P2}–{p + halfWidth:P2}"));
        Assert.InRange(score.Accuracy, p - halfWidth, p + halfWidth);
        Assert.Equal(questions.Count(q => picked[q.Index] == q.AnswerIdx), score.Correct);
    }

    [Fact]
    public async Task TheReferenceFigureEqualsAStraightforwardReimplementationOfItsScorerOnTheSameOutputs()
    {
        var corpus = AnswerCorpus.Build(perStyle: 25, seed: 99);
        var rng = new Random(3);
        // What the reference drops or strips: empty outputs, "</s>", one leading space; and two sources.
        var outputs = corpus.ToDictionary(a => a.Question.Question, a => rng.Next(10) switch
        {
            0 => "",
            1 => " " + a.Output + "</s>",
            _ => a.Output,
        });
        var questions = corpus.Select(a => a.Question with { Benchmark = a.Question.Index % 3 == 0 ? "MedQA" : "PubMedQA" }).ToList();
        var results = await ServeAndRunAsync(questions, q => outputs[q.Question]);

        var scores = EvaluationReport.Score(results).ToDictionary(s => s.Benchmark);
        var expected = ReferenceScorerAsWritten.Score(results.Select(r => (r.Benchmark, r.Output ?? "", r.Options.ToList(), r.AnswerIdx)));
        Assert.Equal(expected.Keys.Order(), scores.Keys.Order());
        foreach (var (source, figure) in expected)
        {
            var reference = scores[source].Reference!;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{source}: reference {reference.Accuracy:P2} of {reference.Counted} (first {reference.FirstMatchCorrect}, last {reference.LastMatchCorrect}); headline {scores[source].Accuracy:P2} of {scores[source].Total}"));
            Assert.Equal(figure.Counted, reference.Counted);
            Assert.Equal(figure.Accuracy, reference.Accuracy, 12);
        }
    }
}
