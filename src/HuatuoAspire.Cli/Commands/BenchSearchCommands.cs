using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Search;
using HuatuoAspire.Reasoning.Verification;
using HuatuoAspire.ScriptedLlm;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary>
/// huatuo bench search: the reasoning-path search against a scripted OpenAI-compatible server that answers after a
/// fixed delay, so every millisecond above the scripted LLM time is our orchestration (HTTP client, Semantic Kernel,
/// JSON parsing, verification, scheduling).
/// </summary>
public static class BenchSearchCommands
{
    public sealed record BenchRow(int Concurrency, int Problems, int Calls, double WallSeconds, double IdealSeconds)
    {
        public double ProblemsPerMinute => Problems / WallSeconds * 60;
        public double Overhead => WallSeconds / IdealSeconds - 1;
    }

    /// <summary>`huatuo bench search`.</summary>
    public static Command CreateSearch()
    {
        var delay = new Option<int>("--delay-ms") { Description = "Fixed delay of every scripted LLM answer.", DefaultValueFactory = _ => 200 };
        var levels = new Option<string>("--concurrency") { Description = "Comma-separated concurrency levels.", DefaultValueFactory = _ => "1,8,32" };
        var perSlot = new Option<int>("--problems-per-slot") { Description = "Problems per concurrent slot at each level (at least 8 problems in all).", DefaultValueFactory = _ => 4 };
        var verifierKind = new Option<string>("--verifier") { Description = "rule (3 LLM calls per problem) or llm (a judge call too: 4).", DefaultValueFactory = _ => "llm" };
        var search = new Command("search", "Problems per minute of the reasoning-path search at several concurrency levels, and the orchestration overhead over the pure LLM time.")
        {
            delay, levels, perSlot, verifierKind,
        };
        search.SetAction(async (parse, ct) =>
        {
            if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160;
            var concurrencies = parse.GetValue(levels)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) && c > 0 ? c
                    : throw new ArgumentException($"--concurrency: '{s}' is not a positive integer")).ToList();
            var judge = parse.GetValue(verifierKind) switch
            {
                "llm" => true,
                "rule" => false,
                var other => throw new ArgumentException($"--verifier must be llm or rule, got '{other}'"),
            };
            var rows = await RunAsync(TimeSpan.FromMilliseconds(parse.GetValue(delay)), concurrencies, parse.GetValue(perSlot), judge, ct);
            var table = new Table().AddColumns("concurrency", "problems", "LLM calls", "wall s", "pure LLM s", "problems/min", "overhead", "scaling vs c=1");
            foreach (var row in rows)
            {
                var scaling = row.ProblemsPerMinute / rows[0].ProblemsPerMinute / (row.Concurrency / (double)rows[0].Concurrency);
                table.AddRow(row.Concurrency.ToString(), row.Problems.ToString(), row.Calls.ToString(), $"{row.WallSeconds:0.000}", $"{row.IdealSeconds:0.000}",
                    $"{row.ProblemsPerMinute:0.0}", $"{row.Overhead:P2}", $"{scaling:0.00} × c");
            }
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"Scripted delay {parse.GetValue(delay)} ms per call, verifier {(judge ? "LLM judge" : "rule")}. Goal: overhead < 5 %, scaling ≥ 0.80 × c.");
            return 0;
        });
        return search;
    }

    public static async Task<List<BenchRow>> RunAsync(TimeSpan delay, IReadOnlyList<int> concurrencies, int problemsPerSlot, bool judge, CancellationToken cancellationToken)
    {
        var cot = JsonSerializer.Serialize(new
        {
            CoT = new object[]
            {
                new { action = "Inner Thinking", title = "Findings", content = "Low reticulocytes in a sickle cell patient point to marrow aplasia." },
                new { action = "Final Conclusion", title = "", content = "Parvovirus B19 infection" },
                new { action = "Verification", title = "", content = "Aplastic crisis fits parvovirus B19." },
            },
        });
        var natural = JsonSerializer.Serialize(new { NaturalReasoning = "Hmm, the reticulocytes are low.\nThat means the marrow stopped.\nParvovirus B19 does that." });
        ScriptedReply Answer(RecordedRequest request)
        {
            var prompt = request.Messages.FirstOrDefault(m => m.Role == "user")?.Content ?? "";
            var text = prompt.StartsWith("<Model Response>", StringComparison.Ordinal) ? "True"
                : prompt.StartsWith("<Thought Process>", StringComparison.Ordinal) ? natural
                : prompt.StartsWith("<Internal Thinking>", StringComparison.Ordinal) ? "Parvovirus B19 infection is the cause."
                : cot;
            return ScriptedReply.Text(text, promptTokens: 500, completionTokens: 200).After(delay);
        }

        await using var server = await ScriptedChatServer.StartAsync(Answer, cancellationToken: cancellationToken);
        var callsPerProblem = judge ? 4 : 3;
        var rows = new List<BenchRow>();
        // Warm-up (JIT, connection pool) outside the figures.
        await MeasureAsync(server, 2, 2, judge, cancellationToken);
        foreach (var concurrency in concurrencies)
        {
            var problems = Math.Max(8, concurrency * problemsPerSlot);
            server.ResetCounters();
            var before = server.Requests.Count;
            var wall = await MeasureAsync(server, concurrency, problems, judge, cancellationToken);
            var waves = Math.Ceiling(problems / (double)concurrency);
            rows.Add(new BenchRow(concurrency, problems, server.Requests.Count - before, wall.TotalSeconds, waves * callsPerProblem * delay.TotalSeconds));
        }
        return rows;
    }

    private static async Task<TimeSpan> MeasureAsync(ScriptedChatServer server, int concurrency, int problems, bool judge, CancellationToken cancellationToken)
    {
        using var endpoint = new LlmEndpoint(new LlmEndpointOptions
        {
            Name = "bench", BaseUrl = server.BaseUri, Model = "scripted-model", MaxConcurrency = concurrency, MaxRetries = 0,
        });
        IAnswerVerifier verifier = judge ? new LlmJudgeVerifier(endpoint) : new RuleVerifier();
        var search = new ReasoningPathSearch(endpoint, verifier, new SearchOptions());
        var stopwatch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, problems), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var result = await search.SearchAsync("A sickle cell patient has sudden anemia with 0.4% reticulocytes. What is the cause?", "Parvovirus B19 infection", i, ct);
                if (result.Status != SearchStatus.Verified) throw new InvalidOperationException($"benchmark problem {i} was not verified: {result.FailureReason}");
            });
        return stopwatch.Elapsed;
    }
}
