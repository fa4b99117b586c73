using System.Text.Json.Nodes;
using HuatuoAspire.Evaluation;
using HuatuoAspire.Evaluation.UnitTests.ScriptedLlm;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Evaluation.UnitTests;

public sealed class EvaluationRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("huatuo-eval-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string SamplePath => Checkout.Path("tests", "HuatuoAspire.Evaluation.UnitTests", "data", "sample_benchmarks.json");

    [Fact]
    public void SampleFileLoadsBothBenchmarksInOrder()
    {
        var questions = BenchmarkLoader.Load(SamplePath);
        Assert.Equal(10, questions.Count);
        Assert.Equal(6, questions.Count(q => q.Benchmark == "MedQA_USLME_test"));
        Assert.Equal(["A", "B", "C", "D", "E"], questions[0].Options.Select(o => o.Key));
        Assert.Equal("D", questions[0].AnswerIdx);
        Assert.Equal(("MedMCQA_validation", 0), (questions[6].Benchmark, questions[6].Index));
        var prompt = EvaluationRunner.BuildPrompt(questions[0], strict: false);
        Assert.StartsWith("Please answer the following multiple-choice question:\n" + questions[0].Question + "\nA. ", prompt, StringComparison.Ordinal);
        Assert.EndsWith("\nE. " + questions[0].Options[4].Value, prompt, StringComparison.Ordinal);
        Assert.Contains("'The answer is A.'", EvaluationRunner.BuildPrompt(questions[0], strict: true), StringComparison.Ordinal);
    }

    [Fact]
    public void JsonlWithSourceIsAccepted()
    {
        var path = Path.Combine(_dir, "b.jsonl");
        File.WriteAllText(path, """
            {"question":"q1","options":{"A":"x","B":"y"},"answer_idx":"B","answer":"y","source":"S1"}

            {"question":"q2","options":{"A":"x","B":"y"},"answer_idx":"A"}
            """);
        var questions = BenchmarkLoader.Load(path);
        Assert.Equal([("S1", 0), ("unknown", 0)], questions.Select(q => (q.Benchmark, q.Index)));
    }

    [Theory]
    [InlineData("{\"question\":\"q\",\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer_idx\":\"A\"}\n{\"question\":\"q\",\"options\":{\"A\":\"x\"},\"answer_idx\":\"A\"}", ":2: needs at least two options")]
    [InlineData("{\"question\":\"q\",\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer_idx\":\"A\"}\n{\"question\":\"q\",\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer_idx\":\"C\"}", ":2: answer_idx 'C' is not one of the options (A, B)")]
    [InlineData("{\"question\":\"q\",\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer_idx\":\"A\"}\n\n{\"question\": ", ":3: invalid JSON")]
    [InlineData("{\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer_idx\":\"A\"}", ":1: missing or empty string field 'question'")]
    [InlineData("{\"MedQA\": [{\"question\":\"q\",\"options\":[\"x\",\"y\"],\"answer_idx\":\"A\"}]}", "benchmark 'MedQA' item 1 (counted from 1): 'options' must be an object")]
    [InlineData("{\n  \"MedQA\": [\n    {\"question\": \"q\", \"options\": {\"A\": \"x\", \"B\": \"y\"}, \"answer_idx\": \"A\"},\n    {\"question\": \"q2\", \"opt", ":4: invalid JSON")]
    [InlineData("", ": the file is empty")]
    [InlineData("  \n", ": the file is empty")]
    [InlineData("{}", ": no questions in the file")]
    [InlineData("[]", ": benchmark 'normal' has no questions")]
    [InlineData("{\"MedQA\": []}", ": benchmark 'MedQA' has no questions")]
    [InlineData("{\"MedQA\": [{\"question\":\"q\",\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer_idx\":\"A\"}, {\"question\":\"q\",\"options\":{\"A\":\"x\"},\"answer_idx\":\"A\"}]}", "benchmark 'MedQA' item 2 (counted from 1): needs at least two options")]
    public void BadInputNamesFileAndPlace(string content, string expected)
    {
        var path = Path.Combine(_dir, "bad.json");
        File.WriteAllText(path, content);
        var error = Assert.Throws<BenchmarkFormatException>(() => BenchmarkLoader.Load(path));
        Assert.StartsWith(path, error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EndToEndAgainstScriptedServerGivesExactCountsAndResumes()
    {
        var questions = BenchmarkLoader.Load(SamplePath);
        var byText = questions.ToDictionary(q => q.Question);
        var rateLimited = 0;
        var plan = new Dictionary<(string, int), Func<BenchmarkQuestion, ScriptedReply>>
        {
            [("MedQA_USLME_test", 0)] = q => ScriptedReply.Text($"## Thinking\n\nMaybe A.\n\n## Final Response\n\nThe answer is {q.AnswerIdx}."),
            [("MedQA_USLME_test", 1)] = _ => ScriptedReply.Text("The answer is B."),
            [("MedQA_USLME_test", 2)] = _ => ScriptedReply.Text(""),
            [("MedQA_USLME_test", 3)] = q => Interlocked.Increment(ref rateLimited) == 1
                ? ScriptedReply.RateLimited(TimeSpan.FromMilliseconds(20))
                : ScriptedReply.Text($"The answer is ({q.AnswerIdx})"),
            [("MedQA_USLME_test", 4)] = _ => ScriptedReply.Malformed(),
            [("MedQA_USLME_test", 5)] = _ => ScriptedReply.Text("i would say caustic ingestion is most likely"),
            [("MedMCQA_validation", 0)] = q => ScriptedReply.Text(q.AnswerIdx + ". " + q.Options.First(o => o.Key == q.AnswerIdx).Value),
            [("MedMCQA_validation", 1)] = _ => ScriptedReply.Text("The answer is D."),
            [("MedMCQA_validation", 2)] = _ => ScriptedReply.Error(400, "context too long"),
            [("MedMCQA_validation", 3)] = q => ScriptedReply.Text("The answer is A."),
        };
        await using var server = await ScriptedChatServer.StartAsync(request =>
        {
            var question = byText.Values.Single(q => request.LastUserMessage.Contains(q.Question, StringComparison.Ordinal));
            return plan[(question.Benchmark, question.Index)](question);
        });

        var options = new EvaluationOptions { Model = "scripted-model", Concurrency = 3, MaxTokens = 256, MaxRetries = 2 };
        var client = EvaluationRunner.CreateEndpoint(server.BaseUrl, options.Model, "k", options);
        var resultsPath = Path.Combine(_dir, "results.jsonl");
        IReadOnlyList<QuestionResult> results;
        using (var sink = new JsonlResultSink(resultsPath))
        {
            results = await new EvaluationRunner(client, options).RunAsync(questions, sink);
        }

        var scores = EvaluationReport.Score(results).ToDictionary(s => s.Benchmark);
        var medqa = scores["MedQA_USLME_test"];
        // The empty answer is unparsed; the malformed body is a failure of the endpoint, counted apart; both are wrong.
        Assert.Equal((6, 3, 1, 1), (medqa.Total, medqa.Correct, medqa.Unparsed, medqa.Failed));
        Assert.Equal(0.5, medqa.Accuracy);
        // The reference's figure drops the empty and the failed answer.
        Assert.Equal((4, 0.75), (medqa.Reference!.Counted, medqa.Reference.Accuracy));
        Assert.Equal(WilsonInterval.Compute(3, 6), (medqa.Ci95Low, medqa.Ci95High));
        var medmcqa = scores["MedMCQA_validation"];
        Assert.Equal((4, 2, 0, 1), (medmcqa.Total, medmcqa.Correct, medmcqa.Unparsed, medmcqa.Failed));
        Assert.Equal(2.0 / 3.0, medmcqa.Reference!.Accuracy, 12);

        Assert.Equal(11, server.Requests.Count); // ten questions plus the retried 429
        Assert.All(server.Requests, r => Assert.Equal((256, 0.0, "scripted-model"), (r.MaxTokens!.Value, r.Temperature!.Value, r.Model!)));
        Assert.InRange(server.MaxConcurrentRequests, 1, 3); // --concurrency bounds the in-flight requests
        var malformed = results.Single(r => r.Benchmark == "MedQA_USLME_test" && r.Index == 4);
        Assert.NotNull(malformed.Error);
        Assert.False(malformed.Correct);
        Assert.Equal(ExtractionRule.OptionText, results.Single(r => r.Benchmark == "MedQA_USLME_test" && r.Index == 5).Rule);
        Assert.Contains("context too long", results.Single(r => r.Benchmark == "MedMCQA_validation" && r.Index == 2).Error, StringComparison.Ordinal);

        var lines = File.ReadAllLines(resultsPath);
        Assert.Equal(10, lines.Length);
        var first = JsonNode.Parse(lines.Single(l => l.Contains("\"benchmark\":\"MedQA_USLME_test\",\"index\":0,", StringComparison.Ordinal)))!;
        Assert.Equal("D", first["extracted"]!.GetValue<string>());
        Assert.True(first["correct"]!.GetValue<bool>());
        Assert.Equal("D", first["answer_idx"]!.GetValue<string>());
        Assert.StartsWith("Please answer", first["prompt"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(5, first["options"]!.AsObject().Count);

        // Resume: only the two questions that failed with an error are asked again.
        plan[("MedQA_USLME_test", 4)] = q => ScriptedReply.Text("The answer is " + q.AnswerIdx);
        var before = server.Requests.Count;
        using (var sink = new JsonlResultSink(resultsPath))
        {
            Assert.Equal(10, sink.Existing.Count);
            results = await new EvaluationRunner(client, options).RunAsync(questions, sink);
        }

        Assert.Equal(before + 2, server.Requests.Count);
        medqa = EvaluationReport.Score(results).Single(s => s.Benchmark == "MedQA_USLME_test");
        Assert.Equal((6, 4, 1, 0), (medqa.Total, medqa.Correct, medqa.Unparsed, medqa.Failed));
        Assert.Equal(6, JsonlResultSink.Read(resultsPath).Count(r => r.Benchmark == "MedQA_USLME_test"));

        var json = JsonNode.Parse(EvaluationReport.ToJson(EvaluationReport.Score(results)))!;
        Assert.Equal(4, json["MedQA_USLME_test"]!["correct"]!.GetValue<int>());
        Assert.Equal(0.8, json["MedQA_USLME_test"]!["reference"]!["accuracy"]!.GetValue<double>(), 12);
        Assert.Equal(1, json["MedMCQA_validation"]!["failed"]!.GetValue<int>());
        Assert.Contains("| MedQA_USLME_test | 6 | 4 | 66.7% |", EvaluationReport.ToMarkdown(EvaluationReport.Score(results)), StringComparison.Ordinal);
    }
}
