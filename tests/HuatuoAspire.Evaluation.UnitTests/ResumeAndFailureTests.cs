using System.Text.Json.Nodes;
using HuatuoAspire.Evaluation;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Evaluation.UnitTests;

/// <summary>Resuming into a results file, and questions the endpoint never answers, against the scripted endpoint.</summary>
public sealed class ResumeAndFailureTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("huatuo-resume-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string ResultsPath => Path.Combine(_dir, "results.jsonl");

    private static BenchmarkQuestion Question(int index, string text, string answer = "B") =>
        new("Bench", index, text, [new("A", "Aspirin"), new("B", "Warfarin"), new("C", "Heparin")], answer, null);

    /// <summary>Answers "The answer is B." to every question, except those whose text contains a key of <paramref name="special"/>.</summary>
    private static Task<ScriptedChatServer> StartServerAsync(Dictionary<string, Func<ScriptedReply>>? special = null) =>
        ScriptedChatServer.StartAsync(request =>
            special?.FirstOrDefault(kv => request.LastUserMessage.Contains(kv.Key, StringComparison.Ordinal)).Value?.Invoke()
            ?? ScriptedReply.Text("The answer is B."));

    private async Task<IReadOnlyList<QuestionResult>> RunAsync(ScriptedChatServer server, IReadOnlyList<BenchmarkQuestion> questions, int maxRetries = 0)
    {
        var options = new EvaluationOptions { Concurrency = 2, MaxRetries = maxRetries, RequestTimeout = TimeSpan.FromSeconds(30) };
        using var sink = new JsonlResultSink(ResultsPath);
        return await new EvaluationRunner(EvaluationRunner.CreateEndpoint(server.BaseUrl, "m", null, options), options).RunAsync(questions, sink);
    }

    [Fact]
    public async Task AHalfWrittenLastLineIsCutOffBeforeAppendingSoEveryLineStaysARecord()
    {
        await using var server = await StartServerAsync();
        await RunAsync(server, [Question(0, "Q zero?"), Question(1, "Q one?")]);
        var whole = await File.ReadAllTextAsync(ResultsPath);
        // A run killed in the middle of writing its third record.
        await File.AppendAllTextAsync(ResultsPath, "{\"benchmark\":\"Bench\",\"index\":2,\"question\":\"Q tw");

        using (var sink = new JsonlResultSink(ResultsPath))
        {
            Assert.True(sink.DroppedPartialLine);
            Assert.Equal(2, sink.Existing.Count);
        }

        Assert.Equal(whole, await File.ReadAllTextAsync(ResultsPath));
        var results = await RunAsync(server, [Question(0, "Q zero?"), Question(1, "Q one?"), Question(2, "Q two?")]);
        Assert.Equal(3, server.Requests.Count);
        Assert.All(results, r => Assert.True(r.Correct));
        var lines = await File.ReadAllLinesAsync(ResultsPath);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, line => Assert.NotNull(JsonNode.Parse(line)));
    }

    [Fact]
    public async Task AWholeLastRecordWithoutItsNewlineIsKept()
    {
        await using var server = await StartServerAsync();
        await RunAsync(server, [Question(0, "Q zero?")]);
        await File.WriteAllTextAsync(ResultsPath, (await File.ReadAllTextAsync(ResultsPath)).TrimEnd('\n'));

        using (var sink = new JsonlResultSink(ResultsPath))
        {
            Assert.False(sink.DroppedPartialLine);
            Assert.Single(sink.Existing);
        }

        await RunAsync(server, [Question(0, "Q zero?"), Question(1, "Q one?")]);
        Assert.Equal(2, server.Requests.Count);
        Assert.Equal(2, (await File.ReadAllLinesAsync(ResultsPath)).Length);
    }

    [Fact]
    public async Task ResumingWithAnotherDataFileMatchesQuestionsByTheirHashNotTheirPosition()
    {
        await using var server = await StartServerAsync(new() { ["changed"] = () => ScriptedReply.Text("The answer is C.") });
        await RunAsync(server, [Question(0, "Q zero?"), Question(1, "Q one?"), Question(2, "Q two?")]);
        Assert.Equal(3, server.Requests.Count);

        // Another file into the same folder: "Q one?" moved first, the old first question was edited, one is new.
        IReadOnlyList<BenchmarkQuestion> second = [Question(0, "Q one?"), Question(1, "Q zero, changed?", answer: "C"), Question(2, "Q two?"), Question(3, "Q three?")];
        var results = await RunAsync(server, second);

        Assert.Equal(["Q three?", "Q zero, changed?"], server.Requests.Skip(3).Select(r => r.LastUserMessage.Split('\n')[1]).Order());
        Assert.Equal(second.Select(q => (q.Index, q.Question)), results.Select(r => (r.Index, r.Question)));
        Assert.All(results, r => Assert.True(r.Correct));
        Assert.Equal("The answer is C.", results[1].Output);
    }

    [Fact]
    public async Task AnEditedAnswerKeyRescoresTheStoredAnswerWithoutAskingAgain()
    {
        await using var server = await StartServerAsync();
        await RunAsync(server, [Question(0, "Q zero?", answer: "B")]);
        var results = await RunAsync(server, [Question(0, "Q zero?", answer: "A")]);
        Assert.Single(server.Requests);
        Assert.False(Assert.Single(results).Correct);
    }

    [Fact]
    public async Task AQuestionWhoseConnectionKeepsDroppingIsRecordedAsFailedAndTheRunGoesOn()
    {
        await using var server = await StartServerAsync(new() { ["hang-up"] = () => ScriptedReply.Drop() });
        var questions = new[] { Question(0, "Q zero?"), Question(1, "Q hang-up?"), Question(2, "Q two?") };

        var results = await RunAsync(server, questions, maxRetries: 2);

        var failed = results.Single(r => r.Index == 1);
        Assert.NotNull(failed.Error);
        Assert.Equal((null, null, false), (failed.Output, failed.Extracted, failed.Correct));
        Assert.Equal(3, server.Requests.Count(r => r.LastUserMessage.Contains("hang-up", StringComparison.Ordinal))); // first try and two retries
        Assert.All(results.Where(r => r.Index != 1), r => Assert.True(r.Correct));
        var score = EvaluationReport.Score(results).Single();
        Assert.Equal((3, 2, 0, 1), (score.Total, score.Correct, score.Unparsed, score.Failed));
        Assert.Equal(2, score.Reference!.Counted);

        // Resumed when the endpoint answers again: only the failed question is asked.
        await using var healthy = await StartServerAsync();
        results = await RunAsync(healthy, questions);
        Assert.Single(healthy.Requests);
        Assert.All(results, r => Assert.True(r.Correct));
    }
}
