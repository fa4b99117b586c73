using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.ScriptedLlm;
using Spectre.Console;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>`huatuo construct` and `huatuo search` on files, run in-process against the scripted LLM server.</summary>
[Collection(CommandLineCollection.Name)]
public sealed class PipelineFileCommandsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("huatuo-cli-files-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static ScriptedReply Answer(RecordedRequest request)
    {
        var prompt = request.Messages.First(m => m.Role == "user").Content;
        if (prompt.StartsWith("<Multiple-choice Question>", StringComparison.Ordinal)) return ScriptedReply.Text("{\"verdict\": \"Pass\"}");
        if (prompt.StartsWith("Rewrite the multiple-choice", StringComparison.Ordinal))
        {
            var answer = prompt.Split("Correct Answer: ")[1].Split('\n')[0];
            return ScriptedReply.Text(JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["Open-ended Verifiable Question"] = "Which answer is " + answer + "?",
                ["Ground-True Answer"] = answer,
            }));
        }
        if (prompt.StartsWith("<Thought Process>", StringComparison.Ordinal)) return ScriptedReply.Text(JsonSerializer.Serialize(new { NaturalReasoning = "Hmm.\nSo." }));
        if (prompt.StartsWith("<Internal Thinking>", StringComparison.Ordinal)) return ScriptedReply.Text("Final.");
        var conclusion = prompt.Split("Which answer is ")[1].Split('?')[0];
        return ScriptedReply.Text(JsonSerializer.Serialize(new
        {
            CoT = new object[]
            {
                new { action = "Inner Thinking", title = "t", content = "c" },
                new { action = "Final Conclusion", title = "", content = conclusion },
                new { action = "Verification", title = "", content = "ok" },
            },
        }));
    }

    [Fact]
    public async Task ConstructThenSearchWriteTheReferenceFieldsAndResume()
    {
        var mcq = Path.Combine(_directory, "mcq.jsonl");
        await File.WriteAllLinesAsync(mcq, new[] { "Measles", "Mumps" }.Select(answer => new JsonObject
        {
            ["question"] = $"A child has fever, rash and swollen glands after a school outbreak. Which infection is it ({answer})?",
            ["options"] = new JsonObject { ["A"] = answer, ["B"] = "Rubella" },
            ["answer_idx"] = "A",
            ["answer"] = answer,
        }.ToJsonString()));
        var problems = Path.Combine(_directory, "problems.jsonl");
        var sft = Path.Combine(_directory, "sft.jsonl");
        await using var server = await ScriptedChatServer.StartAsync(Answer);

        Assert.Equal(0, await Program.Main(["construct", "--in", mcq, "--out", problems, "--llm", server.BaseUrl + "/chat/completions", "--concurrency", "2"]));
        var constructed = (await File.ReadAllLinesAsync(problems)).Select(l => JsonNode.Parse(l)!.AsObject()).OrderBy(r => (int)r["process_id"]!).ToList();
        Assert.Equal(["Measles", "Mumps"], constructed.Select(r => (string)r["Ground-True Answer"]!));
        Assert.All(constructed, r => Assert.Equal("Pass", (string?)r["filter_verdict"]));

        Assert.Equal(0, await Program.Main(["search", "--in", problems, "--out", sft, "--llm", server.BaseUrl, "--verifier", "rule", "--max-depth", "1"]));
        var searched = (await File.ReadAllLinesAsync(sft)).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(2, searched.Count);
        Assert.All(searched, r =>
        {
            Assert.Equal("Verified", (string?)r["search_status"]);
            Assert.Equal("Hmm.\nSo.", (string?)r["Complex_CoT"]);
            Assert.Equal("Final.", (string?)r["Response"]);
            Assert.StartsWith("Which answer is", (string?)r["Question"]);
        });

        // Everything is done: a second run sends no request and keeps the file as it is.
        var requests = server.Requests.Count;
        var before = await File.ReadAllTextAsync(sft);
        Assert.Equal(0, await Program.Main(["search", "--in", problems, "--out", sft, "--llm", server.BaseUrl, "--verifier", "rule"]));
        Assert.Equal(requests, server.Requests.Count);
        Assert.Equal(before, await File.ReadAllTextAsync(sft));
    }

    /// <summary>Runs the program with Spectre's console captured (wide, no colour) and returns exit code and text.</summary>
    private static async Task<(int ExitCode, string Output)> RunCapturedAsync(params string[] args)
    {
        var writer = new StringWriter();
        var original = AnsiConsole.Console;
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No });
        AnsiConsole.Console.Profile.Width = 500; // one message, one line
        try
        {
            return (await Program.Main(args), writer.ToString());
        }
        finally
        {
            AnsiConsole.Console = original;
        }
    }

    [Fact]
    public async Task QuestionsTheSmallModelsSolveAreRejectedWithTheirAnswersKept()
    {
        var mcq = Path.Combine(_directory, "easy.json");
        await File.WriteAllTextAsync(mcq, new JsonArray(new JsonObject
        {
            ["question"] = "A child has fever, rash and swollen glands after a school outbreak. Which infection is it?",
            ["options"] = new JsonObject { ["A"] = "Measles", ["B"] = "Rubella" },
            ["answer_idx"] = "A",
            ["answer"] = "Measles",
        }).ToJsonString());
        await using var small = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("{\"answer\": \"A\"}"));
        await using var writer = await ScriptedChatServer.StartAsync(Answer);
        var output = Path.Combine(_directory, "easy.jsonl");

        Assert.Equal(0, await Program.Main(["construct", "--in", mcq, "--out", output, "--llm", writer.BaseUrl,
            "--difficulty-model", $"tiny-1@{small.BaseUrl}", "--difficulty-model", $"tiny-2@{small.BaseUrl}"]));

        var record = JsonNode.Parse((await File.ReadAllLinesAsync(output)).Single())!.AsObject();
        Assert.Equal("Rejected", (string?)record["construction_status"]);
        Assert.Null(record["Open-ended Verifiable Question"]);
        Assert.Contains("all 2 small model(s) answered correctly", (string?)record["construction"]!["rejectReason"]);
        Assert.Equal(["tiny-1", "tiny-2"], small.Requests.Select(r => r.Model));
        Assert.Empty(writer.Requests);
    }

    [Fact]
    public async Task VerifierMeasureScoresTheRuleVerifierAndAJudge()
    {
        // A judge that accepts everything: perfect recall, precision = share of correct pairs.
        await using var judge = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("True"));
        var (exitCode, output) = await RunCapturedAsync("verifier", "measure", "--llm", judge.BaseUrl, "--concurrency", "16");
        Assert.Equal(0, exitCode);
        Assert.Contains("811 labelled pairs from 198 reference answers", output);
        Assert.Matches(@"llm-judge\s*│\s*51\.2\s?%\s*│\s*51\.2\s?%\s*│\s*100\.0\s?%", output); // 415 of 811 pairs are correct
        Assert.Matches(@"rule\s*│\s*9\d\.\d\s?%", output);
        Assert.Equal(811, judge.Requests.Count);
    }

    [Fact]
    public async Task BenchSearchPrintsThroughputAndOverheadPerConcurrency()
    {
        var (exitCode, output) = await RunCapturedAsync("bench", "search", "--delay-ms", "20", "--concurrency", "1,4", "--problems-per-slot", "2", "--verifier", "rule");
        Assert.Equal(0, exitCode);
        Assert.Contains("problems/min", output);
        Assert.Matches(@"│\s*4\s*│\s*8\s*│\s*24\s*│", output); // 4 slots × 2 problems × 3 calls
    }

    [Fact]
    public async Task BadInputIsReportedWithFileAndLineAndExitCode2()
    {
        var input = Path.Combine(_directory, "broken.jsonl");
        await File.WriteAllTextAsync(input, "{\"question\": \"q\"}\n{not json\n");
        var output = Path.Combine(_directory, "out.jsonl");
        var writer = new StringWriter();
        var original = AnsiConsole.Console;
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No });
        AnsiConsole.Console.Profile.Width = 500; // one message, one line
        try
        {
            Assert.Equal(2, await Program.Main(["construct", "--in", input, "--out", output, "--llm", "http://127.0.0.1:9/v1"]));
        }
        finally
        {
            AnsiConsole.Console = original;
        }
        Assert.Contains("broken.jsonl:2: invalid JSON", writer.ToString());
        Assert.False(File.Exists(output));
    }
}
