using HuatuoAspire.Data.Entities;
using HuatuoAspire.Evaluation;
using HuatuoAspire.ScriptedLlm;
using HuatuoAspire.Workers.Jobs;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Workers.FunctionalTests;

[Collection(PostgresCollection.Name)]
public sealed class DatabaseResultSinkTests(InfrastructureFixture fixture)
{
    private static BenchmarkQuestion Question(string benchmark, int index, string answer) =>
        new(benchmark, index, $"Question {benchmark} {index}?",
            new Dictionary<string, string> { ["A"] = "Aspirin", ["B"] = "Heparin", ["C"] = "Warfarin" }.ToList(), answer, null);

    [Fact]
    public async Task ResultsBecomeRowsWithCountsAndAReRunAsksOnlyTheFailedQuestion()
    {
        var (_, factory) = await fixture.CreateMigratedDatabaseAsync();
        BenchmarkQuestion[] questions = [Question("MedQA", 0, "A"), Question("MedQA", 1, "B"), Question("MedQA", 2, "C"), Question("PubMedQA", 0, "A")];
        var failOnce = true;
        await using var server = await ScriptedChatServer.StartAsync(request =>
        {
            var text = request.LastUserMessage;
            if (text.Contains("Question MedQA 2?", StringComparison.Ordinal) && failOnce) { failOnce = false; return ScriptedReply.ServerError(); }
            if (text.Contains("Question MedQA 0?", StringComparison.Ordinal)) return ScriptedReply.Text("## Thinking\n\nx\n\n## Final Response\n\nThe answer is A.");
            if (text.Contains("Question MedQA 1?", StringComparison.Ordinal)) return ScriptedReply.Text("The answer is C.");
            if (text.Contains("Question MedQA 2?", StringComparison.Ordinal)) return ScriptedReply.Text("Warfarin it is.");
            return ScriptedReply.Text("");
        });
        var options = new EvaluationOptions { Model = "scripted-model", Concurrency = 2, MaxRetries = 0 };
        var runner = new EvaluationRunner(EvaluationRunner.CreateEndpoint(server.BaseUrl, "scripted-model", null, options), options);

        var sink = await DatabaseResultSink.OpenAsync(factory, "scripted-model", questions.Select(q => q.Benchmark), default);
        var first = await runner.RunAsync(questions, sink);
        Assert.Single(first, r => r.Error is not null);
        await using (var db = await factory.CreateDbContextAsync())
        {
            var medqa = await db.EvaluationRuns.SingleAsync(r => r.Benchmark == "MedQA");
            // The failed request is stored with its error (wrong and unparsed) and asked again on a re-run.
            Assert.Equal((3, 1, RunStatus.Running), (medqa.Total, medqa.Correct, medqa.Status));
            var failed = await db.EvaluationResults.SingleAsync(r => r.EvaluationRunId == medqa.Id && r.QuestionKey == "2");
            Assert.Contains("500", failed.Error);
            Assert.Equal(("", null, "None"), (failed.Output, failed.ExtractedLetter, failed.ExtractionRule));
            var pubmed = await db.EvaluationRuns.SingleAsync(r => r.Benchmark == "PubMedQA");
            Assert.Equal((1, 0), (pubmed.Total, pubmed.Correct));
            var empty = await db.EvaluationResults.SingleAsync(r => r.EvaluationRunId == pubmed.Id);
            Assert.Equal(("", null), (empty.Output, empty.ExtractedLetter));
        }

        // Re-open: the unfinished runs resume, and only the failed question is asked again.
        var before = server.Requests.Count;
        var resumed = await DatabaseResultSink.OpenAsync(factory, "scripted-model", questions.Select(q => q.Benchmark), default);
        Assert.Equal(sink.RunIds, resumed.RunIds);
        Assert.Equal(4, resumed.Existing.Count);
        Assert.Single(resumed.Existing, r => r.Error is not null);
        var second = await runner.RunAsync(questions, resumed);
        Assert.Equal(1, server.Requests.Count - before);
        Assert.All(second, r => Assert.Null(r.Error));
        Assert.Equal(["A", "C", "C", null], second.Select(r => r.Extracted));
        await resumed.CompleteAsync(default);

        await using (var db = await factory.CreateDbContextAsync())
        {
            var medqa = await db.EvaluationRuns.SingleAsync(r => r.Benchmark == "MedQA");
            Assert.Equal((3, 2, RunStatus.Succeeded), (medqa.Total, medqa.Correct, medqa.Status));
            Assert.NotNull(medqa.FinishedAt);
            Assert.Equal(4, await db.EvaluationResults.CountAsync());
            Assert.Equal(0, await db.EvaluationResults.CountAsync(r => r.Error != null));
            Assert.Equal("OptionText", (await db.EvaluationResults.SingleAsync(r => r.EvaluationRunId == medqa.Id && r.QuestionKey == "2")).ExtractionRule);
        }
    }
}
