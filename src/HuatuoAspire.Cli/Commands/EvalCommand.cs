using System.CommandLine;
using System.Globalization;
using HuatuoAspire.Evaluation;
using HuatuoAspire.Reasoning.Llm;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary>
/// huatuo eval: multiple-choice medical benchmarks against any OpenAI-compatible endpoint; writes report.json,
/// report.md and results.jsonl under --out, and resumes from results.jsonl when run again. Exit codes: 0 every
/// question answered; 1 some questions got no answer from the endpoint after retries (reported, asked again on the
/// next run); 2 bad input; 130 interrupted (Ctrl+C), with what was kept and how to resume.
/// </summary>
public static class EvalCommand
{
    public const int ExitUnanswered = 1;
    public const int ExitBadInput = 2;
    public const int ExitInterrupted = 130;

    public static Command Create()
    {
        var data = new Option<FileInfo>("--data") { Description = "Benchmarks: JSON keyed by benchmark name, or JSONL (optional \"source\").", Required = true };
        var url = new Option<string>("--url") { Description = "OpenAI-compatible base URL, e.g. http://127.0.0.1:5080/v1.", Required = true };
        var model = new Option<string>("--model") { Description = "Model id sent with each request.", DefaultValueFactory = _ => "default" };
        var apiKey = new Option<string?>("--api-key") { Description = "Bearer key for the endpoint (the api-key header for azure-openai)." };
        var kind = new Option<string?>("--llm-kind") { Description = "openai-compatible (default), openai or azure-openai (--url is then the resource URL and --model the deployment)." };
        var concurrency = new Option<int>("--concurrency") { Description = "Requests in flight at once.", DefaultValueFactory = _ => 4 };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "max_tokens per answer (endpoint default when absent; the reference asks 2000)." };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature (0: greedy, repeatable; the reference's eval.py samples at 0.5).", DefaultValueFactory = _ => 0f };
        var topP = new Option<float?>("--top-p") { Description = "Nucleus sampling top_p (endpoint default when absent; the reference uses 0.9 with temperature 0.5)." };
        var strict = new Option<bool>("--strict-prompt") { Description = "Ask the model to end with \"The answer is X.\"." };
        var limit = new Option<int?>("--limit") { Description = "Only the first N questions of each benchmark." };
        var retries = new Option<int>("--max-retries") { Description = "Retries of 429/5xx/network failures (honouring Retry-After).", DefaultValueFactory = _ => 3 };
        var output = new Option<DirectoryInfo>("--out") { Description = "Output folder for report.json, report.md, results.jsonl.", Required = true };
        var command = new Command("eval", "Evaluate a model on multiple-choice medical benchmarks through an OpenAI-compatible endpoint.")
        {
            data, url, model, apiKey, kind, concurrency, maxTokens, temperature, topP, strict, limit, retries, output,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new EvaluationOptions
            {
                Model = parse.GetValue(model)!,
                Concurrency = parse.GetValue(concurrency),
                MaxTokens = parse.GetValue(maxTokens),
                Temperature = parse.GetValue(temperature),
                TopP = parse.GetValue(topP),
                StrictPrompt = parse.GetValue(strict),
                MaxRetries = parse.GetValue(retries),
            };
            if (options.Concurrency < 1 || parse.GetValue(limit) is < 1)
            {
                await Console.Error.WriteLineAsync($"--concurrency and --limit must be at least 1, got {options.Concurrency} and {parse.GetValue(limit)}.");
                return ExitBadInput;
            }

            IReadOnlyList<BenchmarkQuestion> questions;
            try
            {
                questions = BenchmarkLoader.Load(parse.GetValue(data)!.FullName);
            }
            catch (BenchmarkFormatException e)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return ExitBadInput;
            }

            if (parse.GetValue(limit) is { } n) questions = questions.Where(q => q.Index < n).ToList();
            var outDir = parse.GetValue(output)!;
            outDir.Create();
            // A bad URL or kind is bad input: CommandLineError says so in one line with exit code 2.
            using var client = EvaluationRunner.CreateEndpoint(parse.GetValue(url)!, options.Model, parse.GetValue(apiKey), options,
                LlmConfiguration.ParseKind(parse.GetValue(kind), "--llm-kind"));
            var resultsPath = Path.Combine(outDir.FullName, "results.jsonl");
            IReadOnlyList<QuestionResult> results;
            try
            {
                results = await RunAsync(new EvaluationRunner(client, options), questions, resultsPath, ct);
            }
            catch (BenchmarkFormatException e)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return ExitBadInput;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                var (answered, _) = new EvaluationRunner(client, options).CountStored(questions, JsonlResultSink.Read(resultsPath));
                AnsiConsole.MarkupLineInterpolated(
                    $"[yellow]Interrupted.[/] {answered} of {questions.Count} questions are answered and kept in {resultsPath}. Run the same command again to resume: only the other {questions.Count - answered} are asked.");
                return ExitInterrupted;
            }

            var scores = EvaluationReport.Score(results);
            await File.WriteAllTextAsync(Path.Combine(outDir.FullName, "report.json"), EvaluationReport.ToJson(scores), CancellationToken.None);
            await File.WriteAllTextAsync(Path.Combine(outDir.FullName, "report.md"), EvaluationReport.ToMarkdown(scores), CancellationToken.None);
            WriteTable(scores);
            AnsiConsole.MarkupLineInterpolated($"Wrote {outDir.FullName}/report.json, report.md, results.jsonl. {EvaluationReport.Definitions}");
            var failed = results.Count(r => r.Error is not null);
            if (failed == 0) return 0;
            AnsiConsole.MarkupLineInterpolated(
                $"[red]{failed} of {questions.Count} questions got no answer from the endpoint after {options.MaxRetries} retries[/] (counted wrong; the reason is in 'error' in results.jsonl). Run the same command again to ask them again.");
            return ExitUnanswered;
        });
        return command;
    }

    /// <summary>Asks what results.jsonl does not answer yet, saying what it reuses; returns every question's result.</summary>
    private static async Task<IReadOnlyList<QuestionResult>> RunAsync(EvaluationRunner runner, IReadOnlyList<BenchmarkQuestion> questions,
        string resultsPath, CancellationToken ct)
    {
        using var sink = new JsonlResultSink(resultsPath);
        if (sink.DroppedPartialLine) AnsiConsole.MarkupLineInterpolated($"[yellow]Cut off a half-written last record of {resultsPath} (a run stopped mid-write); that question is asked again.[/]");
        var (answered, unmatched) = runner.CountStored(questions, sink.Existing);
        if (answered > 0) AnsiConsole.MarkupLineInterpolated($"Resuming: {answered} of {questions.Count} questions are already answered in {resultsPath}.");
        if (unmatched > 0)
        {
            AnsiConsole.MarkupLineInterpolated(
                $"[yellow]{resultsPath} also holds {unmatched} answers to questions that are not in this data file (other or changed questions, or another prompt style: matched by the exact prompt): they are kept there but not reported, and changed questions are asked again.[/]");
        }

        return await AnsiConsole.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask("eval", maxValue: questions.Count);
            task.Increment(answered);
            return await runner.RunAsync(questions, sink, new Progress<QuestionResult>(_ => task.Increment(1)), ct);
        });
    }

    private static void WriteTable(IReadOnlyList<BenchmarkScore> scores)
    {
        var table = new Table().AddColumns("benchmark", "total", "correct", "accuracy", "95% CI", "unparsed", "failed", "reference scorer's figure");
        foreach (var s in scores)
        {
            table.AddRow(Markup.Escape(s.Benchmark), s.Total.ToString(CultureInfo.InvariantCulture), s.Correct.ToString(CultureInfo.InvariantCulture),
                $"{s.Accuracy:P1}", $"{s.Ci95Low:P1}–{s.Ci95High:P1}", s.Unparsed.ToString(CultureInfo.InvariantCulture),
                s.Failed.ToString(CultureInfo.InvariantCulture), EvaluationReport.ReferenceText(s.Reference));
        }

        AnsiConsole.Write(table);
    }
}
