using System.CommandLine;
using System.Globalization;
using HuatuoAspire.Benchmarks.Serving;
using HuatuoAspire.Inference.Clients;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary><c>huatuo bench serve</c>: output tokens/s, time to first token and inter-token latency at several concurrencies.</summary>
public static class BenchServeCommand
{
    public static Command Create()
    {
        var url = new Option<string?>("--url") { Description = "An OpenAI-compatible service to measure." };
        var model = new Option<DirectoryInfo?>("--model") { Description = "Instead of --url: serve this model folder in-process and measure it." };
        var modelId = new Option<string?>("--model-id") { Description = "Model id to request (default: the first one /v1/models lists)." };
        var apiKey = new Option<string?>("--api-key") { Description = "Sent as 'Authorization: Bearer KEY'." };
        var concurrency = new Option<int[]>("--concurrency")
        {
            Description = "Concurrent streaming clients, one run each.", DefaultValueFactory = _ => [1, 4, 16], AllowMultipleArgumentsPerToken = true,
        };
        var requests = new Option<int>("--requests") { Description = "Requests each client sends, one after another.", DefaultValueFactory = _ => 2 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Completion tokens per request.", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--max-batch-size") { Description = "With --model: Inference:MaxBatchSize.", DefaultValueFactory = _ => 16 };
        var prefillBudget = new Option<int?>("--prefill-budget")
        {
            Description = "With --model: Inference:PrefillTokenBudget, the prompt tokens prefilled per scheduler step (default: the service's).",
        };
        var threads = new Option<int>("--threads")
        {
            Description = "With --model: CPU threads for the model (0 = libtorch's default, one per core; use 1 on a shared machine).",
        };
        var command = new Command("serve", "Measure a serving endpoint with N concurrent streaming clients (tokens/s, TTFT, inter-token latency p50/p95).")
        {
            url, model, modelId, apiKey, concurrency, requests, maxTokens, batch, prefillBudget, threads,
        };
        command.SetAction(async (parse, ct) =>
        {
            var modelDir = parse.GetValue(model);
            var target = parse.GetValue(url);
            if ((modelDir is null) == (target is null))
            {
                AnsiConsole.MarkupLine("[red]Give exactly one of --url (a running service) or --model DIR (served in-process).[/]");
                return 2;
            }
            WebApplication? app = null;
            try
            {
                if (modelDir is not null)
                {
                    if (!Directory.Exists(modelDir.FullName))
                    {
                        AnsiConsole.MarkupLineInterpolated($"[red]--model: the folder {modelDir.FullName} does not exist.[/]");
                        return 2;
                    }
                    if (parse.GetValue(threads) is > 0 and var n) TorchSharp.torch.set_num_threads(n);
                    app = ServeCommand.Build(new ServeSettings(modelDir.FullName, "http://127.0.0.1:0", parse.GetValue(apiKey), null,
                        parse.GetValue(batch), 1024, null),
                        parse.GetValue(prefillBudget) is { } budget ? [$"--Inference:PrefillTokenBudget={budget}"] : []);
                    await app.StartAsync(ct);
                    target = ServeCommand.Addresses(app).First();
                    await app.Services.GetRequiredService<HuatuoAspire.Inference.Scheduling.ContinuousBatchScheduler>().InitialLoad;
                }
                using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
                var client = new ChatStreamClient(http, target!, parse.GetValue(apiKey));
                var id = parse.GetValue(modelId) ?? await client.FirstModelAsync(ct);
                var benchmark = new ServingBenchmark(client, id);
                AnsiConsole.MarkupLineInterpolated($"[grey]{target}, model {id}, {parse.GetValue(maxTokens)} tokens per request, {parse.GetValue(requests)} requests per client; warming up…[/]");
                await benchmark.RunAsync(1, 1, 8, ct);

                var table = new Table().Border(TableBorder.Rounded)
                    .AddColumns("concurrency", "requests", "output tokens", "tokens/s", "TTFT p50 ms", "TTFT p95 ms", "ITL p50 ms", "ITL p95 ms");
                double? single = null;
                foreach (var n in parse.GetValue(concurrency)!)
                {
                    var r = await benchmark.RunAsync(n, parse.GetValue(requests), parse.GetValue(maxTokens), ct);
                    single ??= n == 1 ? r.OutputTokensPerSecond : null;
                    table.AddRow(n.ToString(), r.Requests.ToString(), r.OutputTokens.ToString(), F(r.OutputTokensPerSecond),
                        F(r.TimeToFirstTokenP50), F(r.TimeToFirstTokenP95), F(r.InterTokenP50), F(r.InterTokenP95));
                    // One machine-readable line per level, for the README and scripts.
                    Console.WriteLine(FormattableString.Invariant(
                        $"concurrency={n} requests={r.Requests} output_tokens={r.OutputTokens} tokens_per_s={r.OutputTokensPerSecond:F1} ttft_p50_ms={r.TimeToFirstTokenP50:F1} ttft_p95_ms={r.TimeToFirstTokenP95:F1} itl_p50_ms={r.InterTokenP50:F1} itl_p95_ms={r.InterTokenP95:F1}")
                        + (single is { } s && n != 1 ? FormattableString.Invariant($" speedup_vs_1={r.OutputTokensPerSecond / s:F2}") : "")
                        + LoadAverage());
                }
                AnsiConsole.Write(table);
                return 0;
            }
            finally
            {
                if (app is not null)
                {
                    await app.StopAsync(CancellationToken.None);
                    await app.DisposeAsync();
                }
            }
        });
        return command;
    }

    // Figures taken on a busy machine are lower bounds: say how busy it was (Linux only).
    private static string LoadAverage()
    {
        try
        {
            var fields = File.ReadAllText("/proc/loadavg").Split(' ');
            return $" load_avg_1m={fields[0]} cores={Environment.ProcessorCount}";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static string F(double v) => double.IsNaN(v) ? "-" : v.ToString("F1", CultureInfo.InvariantCulture);
}
