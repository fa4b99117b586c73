using System.Text.Json.Nodes;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>`huatuo eval` end to end against the scripted OpenAI-compatible server: reports on disk, resume, bad input.</summary>
[Collection(CommandLineCollection.Name)]
public sealed class EvalCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("huatuo-cli-eval-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task EvalWritesReportsAndResumesFromResults()
    {
        var data = Path.Combine(_dir, "bench.jsonl");
        await File.WriteAllTextAsync(data, """
            {"question":"Q one?","options":{"A":"alpha","B":"beta"},"answer_idx":"A","source":"Bench_X"}
            {"question":"Q two?","options":{"A":"alpha","B":"beta"},"answer_idx":"B","source":"Bench_X"}
            {"question":"Q three?","options":{"A":"alpha","B":"beta"},"answer_idx":"B","source":"Bench_X"}
            """);
        await using var server = await ScriptedChatServer.StartAsync(r => r.LastUserMessage.Contains("Q three?", StringComparison.Ordinal)
            ? ScriptedReply.Text("")
            : ScriptedReply.Text("## Thinking\n\nhmm\n\n## Final Response\n\nThe answer is A."), new ScriptedChatServerOptions { ApiKey = "k" });
        var outDir = Path.Combine(_dir, "out");

        Assert.Equal(0, await Program.Main(["eval", "--data", data, "--url", server.BaseUrl, "--api-key", "k", "--model", "m",
            "--concurrency", "2", "--max-tokens", "64", "--strict-prompt", "--out", outDir]));

        var report = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "report.json")))!["Bench_X"]!;
        Assert.Equal(3, report["total"]!.GetValue<int>());
        Assert.Equal(1, report["correct"]!.GetValue<int>());
        Assert.Equal(1, report["unparsed"]!.GetValue<int>());
        Assert.Equal(1.0 / 3, report["accuracy"]!.GetValue<double>(), 12);
        Assert.Equal(0.5, report["accuracy_excluding_unparsed"]!.GetValue<double>(), 12);
        Assert.True(report["ci95_low"]!.GetValue<double>() < 1.0 / 3 && report["ci95_high"]!.GetValue<double>() > 1.0 / 3);
        Assert.Contains("| Bench_X | 3 | 1 | 33.3% |", await File.ReadAllTextAsync(Path.Combine(outDir, "report.md")), StringComparison.Ordinal);
        Assert.Equal(3, (await File.ReadAllLinesAsync(Path.Combine(outDir, "results.jsonl"))).Length);
        Assert.All(server.Requests, r => Assert.Contains("'The answer is A.'", r.LastUserMessage, StringComparison.Ordinal));
        Assert.Equal(3, server.Requests.Count);

        // Same --out: nothing left to ask.
        Assert.Equal(0, await Program.Main(["eval", "--data", data, "--url", server.BaseUrl, "--api-key", "k", "--out", outDir]));
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task EvalRejectsABadBenchmarkFileWithoutCallingTheEndpoint()
    {
        var data = Path.Combine(_dir, "bad.jsonl");
        await File.WriteAllTextAsync(data, "{\"question\":\"q\",\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer_idx\":\"Z\"}\n");
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("The answer is A."));
        Assert.Equal(2, await Program.Main(["eval", "--data", data, "--url", server.BaseUrl, "--out", Path.Combine(_dir, "out")]));
        Assert.Empty(server.Requests);
    }
}
