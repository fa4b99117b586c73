using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HuatuoAspire.Evaluation;

/// <summary>
/// Scores of one benchmark. <see cref="Accuracy"/> counts empty, failed and unparseable outputs as wrong (the
/// headline); <see cref="AccuracyExcludingUnparsed"/> is the reference scorer's figure that drops them.
/// </summary>
public sealed record BenchmarkScore(string Benchmark, int Total, int Correct, double Accuracy, int Unparsed,
    double AccuracyExcludingUnparsed, double Ci95Low, double Ci95High, IReadOnlyDictionary<string, int> ExtractedBy);

/// <summary>What scoring needs of one answered question (a <see cref="QuestionResult"/> or a stored row).</summary>
public sealed record ScoredAnswer(string Benchmark, bool Correct, string? Extracted, ExtractionRule Rule);

public static class EvaluationReport
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    public static IReadOnlyList<BenchmarkScore> Score(IEnumerable<QuestionResult> results) =>
        Score(results.Select(r => new ScoredAnswer(r.Benchmark, r.Correct, r.Extracted, r.Rule)));

    public static IReadOnlyList<BenchmarkScore> Score(IEnumerable<ScoredAnswer> results) =>
        results.GroupBy(r => r.Benchmark).Select(g =>
        {
            var total = g.Count();
            var correct = g.Count(r => r.Correct);
            var unparsed = g.Count(r => r.Extracted is null);
            var parsed = total - unparsed;
            var (low, high) = WilsonInterval.Compute(correct, total);
            var by = Enum.GetValues<ExtractionRule>().Where(rule => rule != ExtractionRule.None)
                .ToDictionary(rule => JsonNamingPolicy.SnakeCaseLower.ConvertName(rule.ToString()), rule => g.Count(r => r.Rule == rule));
            return new BenchmarkScore(g.Key, total, correct, total == 0 ? 0 : (double)correct / total, unparsed,
                parsed == 0 ? 0 : (double)correct / parsed, low, high, by);
        }).ToList();

    public static string ToJson(IReadOnlyList<BenchmarkScore> scores) =>
        JsonSerializer.Serialize(scores.ToDictionary(s => s.Benchmark, s => new
        {
            total = s.Total,
            correct = s.Correct,
            accuracy = s.Accuracy,
            unparsed = s.Unparsed,
            accuracy_excluding_unparsed = s.AccuracyExcludingUnparsed,
            ci95_low = s.Ci95Low,
            ci95_high = s.Ci95High,
            extracted_by = s.ExtractedBy,
        }), Json);

    public static string ToMarkdown(IReadOnlyList<BenchmarkScore> scores)
    {
        var md = new StringBuilder();
        md.AppendLine("| Benchmark | Total | Correct | Accuracy | 95% CI (Wilson) | Unparsed | Accuracy excl. unparsed (reference) |");
        md.AppendLine("|---|---:|---:|---:|---|---:|---:|");
        foreach (var s in scores)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {s.Benchmark} | {s.Total} | {s.Correct} | {s.Accuracy * 100:F1}% | {s.Ci95Low * 100:F1}–{s.Ci95High * 100:F1}% | {s.Unparsed} | {s.AccuracyExcludingUnparsed * 100:F1}% |");
        }

        md.AppendLine();
        md.AppendLine("Accuracy counts empty, failed and unparseable outputs as wrong; the last column drops them, as the reference scorer does. Where a rule matches several times the last match is used.");
        return md.ToString();
    }
}
