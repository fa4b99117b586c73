using System.Diagnostics;
using HuatuoAspire.Inference.Clients;

namespace HuatuoAspire.Benchmarks.Serving;

/// <summary>Figures for one concurrency level. Latencies in milliseconds.</summary>
public sealed record ServingBenchmarkResult(
    int Concurrency,
    int Requests,
    long OutputTokens,
    double WallSeconds,
    double OutputTokensPerSecond,
    double TimeToFirstTokenP50,
    double TimeToFirstTokenP95,
    double InterTokenP50,
    double InterTokenP95);

/// <summary>
/// Drives an OpenAI-compatible endpoint with N concurrent streaming clients, each sending its requests back to back,
/// and measures total output tokens/s (completion tokens from the usage chunk ÷ wall time), time to first token
/// (request sent → first chunk with text) and inter-token latency (gaps between text chunks; one chunk is one token).
/// </summary>
public sealed class ServingBenchmark(ChatStreamClient client, string model)
{
    public async Task<ServingBenchmarkResult> RunAsync(int concurrency, int requestsPerClient, int maxTokens, CancellationToken ct)
    {
        var ttft = new List<double>();
        var gaps = new List<double>();
        long tokens = 0;
        var requests = 0;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async clientIndex =>
        {
            for (var r = 0; r < requestsPerClient; r++)
            {
                // Distinct prompts so no two requests are the same work.
                var prompt = $"Patient {clientIndex}-{r}: a 45-year-old with fever, cough and chest pain. What is the most likely diagnosis?";
                var sent = Stopwatch.GetTimestamp();
                long? previous = null;
                var localGaps = new List<double>();
                double? first = null;
                long completion = 0;
                await foreach (var piece in client.StreamAsync(model, [("user", prompt)], maxTokens, 0, ct))
                {
                    if (piece.Usage is { } usage) completion = usage.CompletionTokens;
                    if (string.IsNullOrEmpty(piece.Content) && string.IsNullOrEmpty(piece.Reasoning)) continue;
                    first ??= Stopwatch.GetElapsedTime(sent, piece.ArrivedAtTicks).TotalMilliseconds;
                    if (previous is { } p) localGaps.Add(Stopwatch.GetElapsedTime(p, piece.ArrivedAtTicks).TotalMilliseconds);
                    previous = piece.ArrivedAtTicks;
                }
                lock (gaps)
                {
                    if (first is { } f) ttft.Add(f);
                    gaps.AddRange(localGaps);
                    tokens += completion;
                    requests++;
                }
            }
        }));
        wall.Stop();
        var seconds = wall.Elapsed.TotalSeconds;
        return new ServingBenchmarkResult(concurrency, requests, tokens, seconds, tokens / seconds,
            Percentile(ttft, 0.50), Percentile(ttft, 0.95), Percentile(gaps, 0.50), Percentile(gaps, 0.95));
    }

    /// <summary>Nearest-rank percentile; NaN when there are no samples.</summary>
    public static double Percentile(IReadOnlyCollection<double> values, double q)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(q * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
