using System.CommandLine;
using System.Globalization;
using HuatuoAspire.Evaluation;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary>
/// huatuo eval: multiple-choice medical benchmarks against any OpenAI-compatible endpoint; writes report.json,
/// report.md and results.jsonl under --out, and resumes from results.jsonl when run again.
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var data = new Option<FileInfo>("--data") { Description = "Benchmarks: JSON keyed by benchmark name, or JSONL (optional \"source\").", Required = true };
        var url = new Option<string>("--url") { Description = "OpenAI-compatible base URL, e.g. http://127.0.0.1:5080/v1.", Required = true };
        var model = new Option<string>("--model") { Description = "Model id sent with each request.", DefaultValueFactory = _ => "default" };
        var apiKey = new Option<string?>("--api-key") { Description = "Bearer key for the endpoint." };
        var concurrency = new Option<int>("--concurrency") { Description = "Requests in flight at once.", DefaultValueFactory = _ => 4 };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "max_tokens per answer (endpoint default when absent)." };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature.", DefaultValueFactory = _ => 0f };
        var strict = new Option<bool>("--strict-prompt") { Description = "Ask the model to end with \"The answer is X.\"." };
        var limit = new Option<int?>("--limit") { Description = "Only the first N questions of each benchmark." };
        var retries = new Option<int>("--max-retries") { Description = "Retries of 429/5xx/network failures (honouring Retry-After).", DefaultValueFactory = _ => 3 };
        var output = new Option<DirectoryInfo>("--out") { Description = "Output folder for report.json, report.md, results.jsonl.", Required = true };
        var command = new Command("eval", "Evaluate a model on multiple-choice medical benchmarks through an OpenAI-compatible endpoint.")
        {
            data, url, model, apiKey, concurrency, maxTokens, temperature, strict, limit, retries, output,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new EvaluationOptions
            {
                Model = parse.GetValue(model)!,
                Concurrency = parse.GetValue(concurrency),
                MaxTokens = parse.GetValue(maxTokens),
                Temperature = parse.GetValue(temperature),
                StrictPrompt = parse.GetValue(strict),
                MaxRetries = parse.GetValue(retries),
            };
            if (options.Concurrency < 1)
            {
                await Console.Error.WriteLineAsync($"--concurrency must be at least 1, got {options.Concurrency}.");
                return 2;
            }

            IReadOnlyList<BenchmarkQuestion> questions;
            try
            {
                questions = BenchmarkLoader.Load(parse.GetValue(data)!.FullName);
            }
            catch (BenchmarkFormatException e)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 2;
            }

            if (parse.GetValue(limit) is { } n) questions = questions.Where(q => q.Index < n).ToList();
            var outDir = parse.GetValue(output)!;
            outDir.Create();
            var client = EvaluationRunner.CreateClient(parse.GetValue(url)!, options.Model, parse.GetValue(apiKey), options);
            IReadOnlyList<QuestionResult> results;
            using (var sink = new JsonlResultSink(Path.Combine(outDir.FullName, "results.jsonl")))
            {
                var already = sink.Existing.Count(r => r.Error is null && questions.Any(q => q.Benchmark == r.Benchmark && q.Index == r.Index));
                results = await AnsiConsole.Progress().StartAsync(async progress =>
                {
                    var task = progress.AddTask("eval", maxValue: questions.Count);
                    task.Increment(already);
                    return await new EvaluationRunner(client, options).RunAsync(questions, sink,
                        new Progress<QuestionResult>(_ => task.Increment(1)), ct);
                });
            }

            var scores = EvaluationReport.Score(results);
            await File.WriteAllTextAsync(Path.Combine(outDir.FullName, "report.json"), EvaluationReport.ToJson(scores), ct);
            await File.WriteAllTextAsync(Path.Combine(outDir.FullName, "report.md"), EvaluationReport.ToMarkdown(scores), ct);
            var table = new Table().AddColumns("benchmark", "total", "correct", "accuracy", "95% CI", "unparsed", "excl. unparsed (reference)");
            foreach (var s in scores)
            {
                table.AddRow(Markup.Escape(s.Benchmark), s.Total.ToString(CultureInfo.InvariantCulture), s.Correct.ToString(CultureInfo.InvariantCulture),
                    $"{s.Accuracy:P1}", $"{s.Ci95Low:P1}–{s.Ci95High:P1}", s.Unparsed.ToString(CultureInfo.InvariantCulture), $"{s.AccuracyExcludingUnparsed:P1}");
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"Wrote {outDir.FullName}/report.json, report.md, results.jsonl. Unparsed outputs count as wrong; the last column drops them as the reference does.");
            return 0;
        });
        return command;
    }
}
