using HuatuoAspire.Evaluation;
using HuatuoAspire.Inference.Serving;
using Microsoft.Extensions.Logging.Abstractions;

namespace HuatuoAspire.Inference.FunctionalTests;

/// <summary>
/// The evaluation harness against the project's own inference service on the tiny random engine model: plumbing
/// (prompts reach the model, every question gets an answer record, reports add up, resume asks nothing twice), not accuracy.
/// </summary>
public sealed class EvaluationPlumbingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "huatuo-eval-plumbing-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task RunnerAnswersEveryBenchmarkQuestionThroughTheServedTinyModelAndResumesWithoutAskingAgain()
    {
        var loader = new EngineModelLoader(NullLogger<EngineModelLoader>.Instance);
        var folder = await loader.EnsureDefaultModelAsync(Path.Combine(_dir, "model"), CancellationToken.None);
        await using var server = await InferenceServer.StartAsync(folder, loader, maxBatchSize: 4, contextLength: 2048, modelId: "tiny");

        var data = Checkout.Path("tests", "HuatuoAspire.Evaluation.UnitTests", "data", "sample_benchmarks.json");
        var questions = BenchmarkLoader.Load(data);
        Assert.Equal(10, questions.Count);
        var options = new EvaluationOptions { Model = "tiny", Concurrency = 3, MaxTokens = 8, MaxRetries = 0 };
        var client = EvaluationRunner.CreateEndpoint(server.ApiBase, "tiny", null, options);
        var resultsPath = Path.Combine(_dir, "results.jsonl");

        IReadOnlyList<QuestionResult> first;
        using (var sink = new JsonlResultSink(resultsPath))
            first = await new EvaluationRunner(client, options).RunAsync(questions, sink);

        Assert.Equal(10, first.Count);
        Assert.All(first, r =>
        {
            Assert.Null(r.Error);
            Assert.NotNull(r.Output);
            Assert.StartsWith("Please answer the following multiple-choice question:\n", r.Prompt, StringComparison.Ordinal);
            Assert.Equal(r.Correct, r.Extracted is not null && r.Extracted == r.AnswerIdx);
        });
        var scores = EvaluationReport.Score(first);
        Assert.Equal(["MedQA_USLME_test", "MedMCQA_validation"], scores.Select(s => s.Benchmark));
        Assert.Equal([6, 4], scores.Select(s => s.Total));
        Assert.Equal(first.Count(r => r.Correct), scores.Sum(s => s.Correct));
        Assert.Equal(10, File.ReadAllLines(resultsPath).Count(l => l.Length > 0));

        // Resume: every question is already answered, so the second run sends nothing and returns the same records.
        var completions = File.ReadAllText(resultsPath);
        using (var sink = new JsonlResultSink(resultsPath))
        {
            var second = await new EvaluationRunner(client, options).RunAsync(questions, sink);
            Assert.Equal(first.Select(r => r.Output), second.Select(r => r.Output));
        }
        Assert.Equal(completions, File.ReadAllText(resultsPath));
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }
}
