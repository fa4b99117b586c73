using System.CommandLine;
using System.Text.Json;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Files;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Verification;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

public static class VerifierCommands
{
    public static Command CreateVerifier()
    {
        var verifier = new Command("verifier", "Answer verifiers: the rule-based verifier and the LLM judge.");
        verifier.Subcommands.Add(CreateMeasure());
        return verifier;
    }

    private static Command CreateMeasure()
    {
        var data = new Option<FileInfo?>("--data") { Description = "Records with \"Ground-True Answer\" (default: shared/data/huatuo/demo_data.json found above the current folder)." };
        var seed = new Option<int>("--seed") { Description = "Seed for the paraphrases, near misses and wrong answers.", DefaultValueFactory = _ => 7 };
        var concurrency = new Option<int>("--concurrency") { Description = "LLM judge requests at once.", DefaultValueFactory = _ => 8 };
        var errors = new Option<int>("--show-errors") { Description = "Print this many misjudged pairs per verifier.", DefaultValueFactory = _ => 0 };
        var pairsOut = new Option<FileInfo?>("--pairs-out") { Description = "Write the labelled pairs as JSON lines." };
        var llm = new LlmArguments();
        var command = new Command("measure", "Build labelled (response, reference, correct?) pairs from the demo data and report accuracy, precision and recall of the verifiers (the LLM judge too when --llm is given).")
        {
            data, seed, concurrency, errors, pairsOut,
        };
        llm.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 200; // keep the table readable in logs
                var path = parse.GetValue(data)?.FullName ?? FindDemoData();
                var records = RecordFile.Read(path)
                    .Select(r => (Reference: r.Json[PipelineRecords.GroundTruthAnswer]?.GetValue<string>(), Option: r.Json["answer"]?.GetValue<string>()))
                    .Where(r => r.Reference?.Trim().Length > 0).ToList();
                var references = records.Select(r => r.Reference!).ToList();
                var pairs = VerifierMeasurement.BuildPairs(references, parse.GetValue(seed), sourceOptions: records.Select(r => r.Option).ToList());
                if (parse.GetValue(pairsOut) is { } pairsFile)
                    await File.WriteAllLinesAsync(pairsFile.FullName, pairs.Select(p => JsonSerializer.Serialize(p, RecordFile.OutputJson)), ct);

                AnsiConsole.MarkupLineInterpolated($"{pairs.Count} labelled pairs from {references.Count} reference answers in {path}: {pairs.Count(p => p.Correct)} correct, {pairs.Count(p => !p.Correct)} incorrect.");
                var scores = new List<VerifierScore> { VerifierMeasurement.ScoreExactMatch(pairs) };
                var rule = new RuleVerifier();
                scores.Add(await VerifierMeasurement.ScoreAsync(rule, pairs, cancellationToken: ct));
                Report(rule, pairs, parse.GetValue(errors));

                if (llm.IsGiven(parse))
                {
                    var parallelism = parse.GetValue(concurrency);
                    using var judgeEndpoint = new LlmEndpoint(llm.Resolve(parse, "judge", parallelism));
                    var judge = new LlmJudgeVerifier(judgeEndpoint);
                    VerifierScore judged = null!;
                    await AnsiConsole.Progress().StartAsync(async context =>
                    {
                        var task = context.AddTask("LLM judge", maxValue: pairs.Count);
                        judged = await VerifierMeasurement.ScoreAsync(judge, pairs, parallelism, new Progress<int>(n => task.Value = n), ct);
                    });
                    scores.Add(judged);
                    var usage = judgeEndpoint.Ledger.Total;
                    AnsiConsole.MarkupLineInterpolated($"LLM judge: {usage.Calls} calls, {usage.InputTokens}/{usage.OutputTokens} tokens, cost {usage.Cost:0.0000}");
                }

                var table = new Table().AddColumns("verifier", "accuracy", "precision", "recall", "TP", "FP", "TN", "FN",
                    "true stmt", "paraphrase", "near miss", "wrong answer", "source option");
                foreach (var score in scores)
                {
                    table.AddRow(score.Verifier, $"{score.Accuracy:P1}", $"{score.Precision:P1}", $"{score.Recall:P1}",
                        score.TruePositives.ToString(), score.FalsePositives.ToString(), score.TrueNegatives.ToString(), score.FalseNegatives.ToString(),
                        $"{score.AccuracyByKind[PairKind.TrueStatement]:P0}", $"{score.AccuracyByKind[PairKind.Paraphrase]:P0}",
                        $"{score.AccuracyByKind[PairKind.NearMiss]:P0}", $"{score.AccuracyByKind[PairKind.WrongAnswer]:P0}",
                        $"{score.AccuracyByKind[PairKind.SourceOption]:P0}");
                }
                AnsiConsole.Write(table);
                AnsiConsole.MarkupLine("[grey]Paper (HuatuoGPT-o1): GPT-4o judge 96.5%, exact match 70.5%. Paraphrases reuse the rule verifier's synonym table, so its paraphrase column is optimistic.[/]");
                return 0;
            }
            catch (Exception exception) when (exception is RecordFileException or LlmConfigurationException or FileNotFoundException)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {exception.Message}");
                return 2;
            }
        });
        return command;
    }

    private static void Report(RuleVerifier rule, IReadOnlyList<LabelledPair> pairs, int count)
    {
        if (count <= 0) return;
        foreach (var pair in pairs.Select(p => (Pair: p, Result: rule.Verify(p.Response, p.Reference))).Where(x => x.Result.IsCorrect != x.Pair.Correct).Take(count))
            AnsiConsole.MarkupLineInterpolated($"[yellow]{pair.Pair.Kind}[/] expected {pair.Pair.Correct}: '{pair.Pair.Response}' vs '{pair.Pair.Reference}' — {pair.Result.Reason}");
    }

    private static string FindDemoData()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                var candidate = Path.Combine(directory.FullName, "shared", "data", "huatuo", "demo_data.json");
                if (File.Exists(candidate)) return candidate;
            }
        }
        throw new FileNotFoundException("shared/data/huatuo/demo_data.json was not found above the current folder; pass --data.");
    }
}
