using System.Text.Json.Nodes;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Files;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Search;
using HuatuoAspire.Reasoning.Verification;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Reasoning.UnitTests;

public sealed class FileModeTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("huatuo-reasoning-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PathOf(string name) => Path.Combine(_directory, name);

    private string WriteProblems(params string[] answers)
    {
        var path = PathOf("problems.jsonl");
        File.WriteAllLines(path, answers.Select((answer, i) => new JsonObject
        {
            ["Open-ended Verifiable Question"] = $"Question {i + 1}: which answer is {answer}?",
            ["Ground-True Answer"] = answer,
        }.ToJsonString()));
        return path;
    }

    /// <summary>Answers the initial chain with the answer named in the question; "Broken" problems get 500s.</summary>
    private static ScriptedReply Answer(RecordedRequest request)
    {
        var prompt = Scripts.Prompt(request);
        if (prompt.Contains("Broken", StringComparison.Ordinal)) return ScriptedReply.ServerError();
        if (Scripts.IsReformat(request)) return ScriptedReply.Text(Scripts.Natural());
        if (Scripts.IsFinalResponse(request)) return ScriptedReply.Text("Final answer.");
        var answer = prompt.Split("which answer is ")[1].Split('?')[0];
        return ScriptedReply.Text(Scripts.Cot(answer));
    }

    private static async Task<RecordRunSummary> RunSearchAsync(ScriptedChatServer server, string input, string output)
    {
        using var endpoint = Scripts.Endpoint(server, o => o with { MaxRetries = 0 });
        var search = new ReasoningPathSearch(endpoint, new RuleVerifier());
        var problems = PipelineRecords.ReadVerifiable(RecordFile.Read(input), out _).ToDictionary(p => p.Input.ProcessId);
        return await new ResumableRecordRun(output, concurrency: 4).RunAsync(problems.Values.Select(p => p.Input).ToList(),
            async (record, ct) => PipelineRecords.SearchRecord(record, await search.SearchAsync(problems[record.ProcessId].Question, problems[record.ProcessId].Answer, record.ProcessId, ct)));
    }

    [Fact]
    public async Task SearchResumesFromItsOutputAndRetriesOnlyDeferredItems()
    {
        var input = WriteProblems("Measles", "Broken", "Mumps");
        var output = PathOf("out.jsonl");
        await using var server = await ScriptedChatServer.StartAsync(Answer);

        var first = await RunSearchAsync(server, input, output);
        Assert.Equal(2, first.Completed);
        Assert.Single(first.Deferred);
        Assert.Contains("process_id 2", first.Deferred[0]);
        var lines = File.ReadAllLines(output).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal([1, 3], lines.Select(l => (int)l["process_id"]!).Order());
        var measles = lines.Single(l => (int)l["process_id"]! == 1);
        Assert.Equal("Verified", (string?)measles["search_status"]);
        Assert.Equal("Final answer.", (string?)measles["Response"]);
        Assert.Equal("Question 1: which answer is Measles?", (string?)measles["Question"]);
        Assert.NotNull(measles["Complex_CoT"]);
        Assert.Equal("InitialReasoning", (string?)measles["search"]!["steps"]![0]!["kind"]);

        // The problem is fixed on the server side; the rerun only processes the deferred item.
        File.WriteAllText(input, File.ReadAllText(input).Replace("Broken", "Rubella"));
        var before = server.Requests.Count;
        var second = await RunSearchAsync(server, input, output);
        Assert.Equal(2, second.AlreadyDone);
        Assert.Equal(1, second.Completed);
        Assert.Equal(3, server.Requests.Count - before);
        Assert.Equal([1, 2, 3], File.ReadAllLines(output).Select(l => (int)JsonNode.Parse(l)!["process_id"]!).Order());
    }

    [Fact]
    public void TornLastLineIsCutOffAndItsItemRedone()
    {
        var output = PathOf("torn.jsonl");
        File.WriteAllText(output, "{\"process_id\": 1, \"x\": 1}\n{\"process_id\": 2, \"x\"");
        var done = ResumableRecordRun.ReadFinishedIds(output);
        Assert.Equal([1], done);
        Assert.Equal("{\"process_id\": 1, \"x\": 1}\n", File.ReadAllText(output));
    }

    [Fact]
    public void CompleteLastLineWithoutNewlineGetsOne()
    {
        var output = PathOf("nonl.jsonl");
        File.WriteAllText(output, "{\"process_id\": 4}");
        Assert.Equal([4], ResumableRecordRun.ReadFinishedIds(output));
        Assert.Equal("{\"process_id\": 4}\n", File.ReadAllText(output));
    }

    [Fact]
    public void DamagedOutputInTheMiddleStopsTheRunWithItsLine()
    {
        var output = PathOf("damaged.jsonl");
        File.WriteAllText(output, "{\"process_id\": 1}\nnot json\n{\"process_id\": 3}\n");
        var error = Assert.Throws<RecordFileException>(() => ResumableRecordRun.ReadFinishedIds(output));
        Assert.Contains("damaged.jsonl:2", error.Message);
        Assert.Equal("{\"process_id\": 1}\nnot json\n{\"process_id\": 3}\n", File.ReadAllText(output));
    }

    [Fact]
    public void InputErrorsNameFileAndLine()
    {
        var path = PathOf("bad.jsonl");
        File.WriteAllText(path, "{\"a\": 1}\n[1, 2]\n{broken\n");
        var error = Assert.Throws<RecordFileException>(() => RecordFile.Read(path));
        Assert.Contains("bad.jsonl:2: not a JSON object", error.Message);
        Assert.Contains("bad.jsonl:3: invalid JSON", error.Message);
    }

    [Fact]
    public void DuplicateProcessIdsAreRejected()
    {
        var path = PathOf("dup.json");
        File.WriteAllText(path, "[{\"process_id\": 7}, {\"process_id\": 7}]");
        Assert.Contains("items 1 and 2 share process_id 7", Assert.Throws<RecordFileException>(() => RecordFile.Read(path)).Message);
    }

    [Fact]
    public void DemoDataReadsAsMultipleChoiceAndAsVerifiableProblems()
    {
        var path = DemoData.Path;
        var records = RecordFile.Read(path);
        Assert.Equal(198, records.Count);
        Assert.Equal(198, PipelineRecords.ReadMultipleChoice(records, path).Count);
        Assert.Equal(198, PipelineRecords.ReadVerifiable(records, out var skipped).Count);
        Assert.Equal(0, skipped);
    }
}

internal static class DemoData
{
    /// <summary>shared/data/huatuo/demo_data.json in a parent folder of the repository (as in CI, shared/ beside the clone).</summary>
    public static string Path
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                var candidate = System.IO.Path.Combine(directory.FullName, "shared", "data", "huatuo", "demo_data.json");
                if (File.Exists(candidate)) return candidate;
            }
            throw new FileNotFoundException("shared/data/huatuo/demo_data.json was not found in any parent folder of " + AppContext.BaseDirectory);
        }
    }
}
