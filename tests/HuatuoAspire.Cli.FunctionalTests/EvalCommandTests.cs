using System.Text.Json.Nodes;
using HuatuoAspire.Cli.Commands;
using HuatuoAspire.ScriptedLlm;
using Spectre.Console;

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
        Assert.Equal(0, report["failed"]!.GetValue<int>());
        // The reference scorer's figure drops the empty answer.
        Assert.Equal((0.5, 2), (report["reference"]!["accuracy"]!.GetValue<double>(), report["reference"]!["counted"]!.GetValue<int>()));
        Assert.True(report["ci95_low"]!.GetValue<double>() < 1.0 / 3 && report["ci95_high"]!.GetValue<double>() > 1.0 / 3);
        Assert.Contains("| Bench_X | 3 | 1 | 33.3% |", await File.ReadAllTextAsync(Path.Combine(outDir, "report.md")), StringComparison.Ordinal);
        Assert.Equal(3, (await File.ReadAllLinesAsync(Path.Combine(outDir, "results.jsonl"))).Length);
        Assert.All(server.Requests, r => Assert.Contains("'The answer is A.'", r.LastUserMessage, StringComparison.Ordinal));
        Assert.Equal(3, server.Requests.Count);

        // Same --out: nothing left to ask.
        Assert.Equal(0, await Program.Main(["eval", "--data", data, "--url", server.BaseUrl, "--api-key", "k", "--strict-prompt", "--out", outDir]));
        Assert.Equal(3, server.Requests.Count);

        // Another prompt is another question: asked again, and the report is of the new answers.
        Assert.Equal(0, await Program.Main(["eval", "--data", data, "--url", server.BaseUrl, "--api-key", "k", "--out", outDir]));
        Assert.Equal(6, server.Requests.Count);
        Assert.All(server.Requests.Skip(3), r => Assert.StartsWith("Please answer the following multiple-choice question:\n", r.LastUserMessage, StringComparison.Ordinal));
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

    private async Task<string> WriteBenchmarkAsync(int count, string name = "bench.jsonl", string content = "")
    {
        var path = Path.Combine(_dir, name);
        await File.WriteAllLinesAsync(path, content.Length > 0 ? [content] : Enumerable.Range(0, count).Select(i =>
            $$"""{"question":"Q{{i}}?","options":{"A":"alpha","B":"beta"},"answer_idx":"B","source":"Bench_X"}"""));
        return path;
    }

    /// <summary>Runs the command line with Spectre's console captured (wide, no colour); returns the exit code and the text.</summary>
    private static async Task<(int ExitCode, string Output)> RunCapturedAsync(string[] args, CancellationToken cancellationToken = default)
    {
        var writer = new StringWriter();
        var original = AnsiConsole.Console;
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No });
        AnsiConsole.Console.Profile.Width = 500; // one message, one line
        try
        {
            return (await Program.RunAsync(args, cancellationToken), writer.ToString());
        }
        finally
        {
            AnsiConsole.Console = original;
        }
    }

    [Fact]
    public async Task EvalExitsNonZeroWhenAQuestionGetsNoAnswerAfterRetriesAndAsksItAgainNextTime()
    {
        var data = await WriteBenchmarkAsync(3);
        var outDir = Path.Combine(_dir, "out");
        await using (var failing = await ScriptedChatServer.StartAsync(r => r.LastUserMessage.Contains("Q1?", StringComparison.Ordinal)
                         ? ScriptedReply.Drop()
                         : ScriptedReply.Text("The answer is B.")))
        {
            var (exit, output) = await RunCapturedAsync(["eval", "--data", data, "--url", failing.BaseUrl, "--max-retries", "1", "--out", outDir]);
            Assert.Equal(EvalCommand.ExitUnanswered, exit);
            Assert.Contains("1 of 3 questions got no answer from the endpoint after 1 retries", output, StringComparison.Ordinal);
            Assert.Equal(2, failing.Requests.Count(r => r.LastUserMessage.Contains("Q1?", StringComparison.Ordinal)));
        }

        var report = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "report.json")))!["Bench_X"]!;
        Assert.Equal((3, 2, 1, 0), (report["total"]!.GetValue<int>(), report["correct"]!.GetValue<int>(), report["failed"]!.GetValue<int>(), report["unparsed"]!.GetValue<int>()));

        await using var healthy = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("The answer is B."));
        Assert.Equal(0, (await RunCapturedAsync(["eval", "--data", data, "--url", healthy.BaseUrl, "--out", outDir])).ExitCode);
        Assert.Equal("Q1?", Assert.Single(healthy.Requests).LastUserMessage.Split('\n')[1]);
    }

    [Fact]
    public async Task EvalInterruptedSaysWhatWasKeptAndHowToResume()
    {
        var data = await WriteBenchmarkAsync(4);
        var outDir = Path.Combine(_dir, "out");
        using var interrupt = new CancellationTokenSource();
        var askedQ2 = 0;
        await using var server = await ScriptedChatServer.StartAsync(r =>
        {
            if (!r.LastUserMessage.Contains("Q2?", StringComparison.Ordinal) || Interlocked.Increment(ref askedQ2) > 1) return ScriptedReply.Text("The answer is B.");
            interrupt.Cancel(); // Ctrl+C while the third question is in flight
            return ScriptedReply.Text("The answer is B.").After(TimeSpan.FromSeconds(30));
        });

        var (exit, output) = await RunCapturedAsync(["eval", "--data", data, "--url", server.BaseUrl, "--concurrency", "1", "--out", outDir], interrupt.Token);

        Assert.Equal(EvalCommand.ExitInterrupted, exit);
        Assert.Contains("Interrupted. 2 of 4 questions are answered and kept in", output, StringComparison.Ordinal);
        Assert.Contains("Run the same command again to resume: only the other 2 are asked.", output, StringComparison.Ordinal);
        Assert.Equal(2, (await File.ReadAllLinesAsync(Path.Combine(outDir, "results.jsonl"))).Length);

        var (again, resumed) = await RunCapturedAsync(["eval", "--data", data, "--url", server.BaseUrl, "--out", outDir]);
        Assert.Equal(0, again);
        Assert.Contains("Resuming: 2 of 4 questions are already answered", resumed, StringComparison.Ordinal);
        Assert.Equal(2, server.Requests.Count(r => r.LastUserMessage.Contains("Q2?", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("{}")]
    [InlineData("{\"MedQA\": []}")]
    public async Task EvalRejectsABenchmarkWithoutQuestions(string content)
    {
        var data = Path.Combine(_dir, "empty.json");
        await File.WriteAllTextAsync(data, content);
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("The answer is A."));
        var outDir = Path.Combine(_dir, "out");
        Assert.Equal(EvalCommand.ExitBadInput, await Program.Main(["eval", "--data", data, "--url", server.BaseUrl, "--out", outDir]));
        Assert.Empty(server.Requests);
        Assert.False(File.Exists(Path.Combine(outDir, "report.json")));
    }
}
