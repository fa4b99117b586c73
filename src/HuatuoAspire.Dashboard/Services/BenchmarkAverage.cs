using HuatuoAspire.Evaluation;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>
/// The row under a per-benchmark table: the papers' "Avg." (each benchmark's accuracy weighted alike, however many
/// questions it has) and the pooled figure over every question asked.
/// </summary>
public sealed record BenchmarkAverage(int Benchmarks, double MeanAccuracy, int Correct, int Total)
{
    public double PooledAccuracy => Total == 0 ? 0 : (double)Correct / Total;

    /// <summary>Null for fewer than two benchmarks, where the benchmark's own row says it all.</summary>
    public static BenchmarkAverage? Of(IReadOnlyCollection<BenchmarkScore> scores) =>
        scores.Count < 2 ? null : new(scores.Count, scores.Average(s => s.Accuracy), scores.Sum(s => s.Correct), scores.Sum(s => s.Total));
}
