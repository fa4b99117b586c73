using System.Globalization;
using System.Text;
using System.Text.Json;

namespace HuatuoAspire.Evaluation;

/// <summary>
/// Scores of one benchmark. <see cref="Accuracy"/> is the headline: every question counts, and an unparsed answer or
/// a question the endpoint never answered (<see cref="Failed"/>) is wrong. <see cref="Reference"/> is the reference
/// repository's own figure (<see cref="ReferenceScorer"/>), null when it counted no output.
/// </summary>
public sealed record BenchmarkScore(string Benchmark, int Total, int Correct, double Accuracy, int Unparsed, int Failed,
    double Ci95Low, double Ci95High, IReadOnlyDictionary<string, int> ExtractedBy, ReferenceFigure? Reference);

/// <summary>What scoring needs of one asked question (a <see cref="QuestionResult"/> or a stored row).</summary>
public sealed record ScoredAnswer(string Benchmark, bool Correct, string? Extracted, ExtractionRule Rule, bool Failed,
    string? Output, IReadOnlyList<KeyValuePair<string, string>> Options, string AnswerIdx);

public static class EvaluationReport
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    public const string Definitions =
        "Accuracy is the headline: every question counts, and an unparsed answer or a question the endpoint never answered (failed) is wrong. " +
        "The reference figure is the HuatuoGPT-o1 repository's own scorer (evaluation/scorer.py), for comparison with the paper: it drops empty " +
        "outputs and failed questions, always guesses a letter, and takes the better of first-match and last-match accuracy.";

    public static IReadOnlyList<BenchmarkScore> Score(IEnumerable<QuestionResult> results) =>
        Score(results.Select(r => new ScoredAnswer(r.Benchmark, r.Correct, r.Extracted, r.Rule, r.Error is not null, r.Output,
            r.Options.ToList(), r.AnswerIdx)));

    public static IReadOnlyList<BenchmarkScore> Score(IEnumerable<ScoredAnswer> results)
    {
        var all = results.ToList();
        var reference = ReferenceScorer.Score(all.Where(r => !r.Failed).Select(r => new ReferenceInput(r.Benchmark, r.Output, r.Options, r.AnswerIdx)));
        return all.GroupBy(r => r.Benchmark).Select(g =>
        {
            var total = g.Count();
            var correct = g.Count(r => r.Correct);
            var (low, high) = WilsonInterval.Compute(correct, total);
            var by = Enum.GetValues<ExtractionRule>().Where(rule => rule != ExtractionRule.None)
                .ToDictionary(rule => JsonNamingPolicy.SnakeCaseLower.ConvertName(rule.ToString()), rule => g.Count(r => r.Rule == rule));
            return new BenchmarkScore(g.Key, total, correct, total == 0 ? 0 : (double)correct / total,
                g.Count(r => !r.Failed && r.Extracted is null), g.Count(r => r.Failed), low, high, by, reference.GetValueOrDefault(g.Key));
        }).ToList();
    }

    public static string ToJson(IReadOnlyList<BenchmarkScore> scores) =>
        JsonSerializer.Serialize(scores.ToDictionary(s => s.Benchmark, s => new
        {
            total = s.Total,
            correct = s.Correct,
            accuracy = s.Accuracy,
            ci95_low = s.Ci95Low,
            ci95_high = s.Ci95High,
            unparsed = s.Unparsed,
            failed = s.Failed,
            extracted_by = s.ExtractedBy,
            reference = s.Reference is { } r
                ? new { accuracy = r.Accuracy, counted = r.Counted, first_match_correct = r.FirstMatchCorrect, last_match_correct = r.LastMatchCorrect }
                : null,
        }), Json);

    public static string ToMarkdown(IReadOnlyList<BenchmarkScore> scores)
    {
        var md = new StringBuilder();
        md.AppendLine("| Benchmark | Total | Correct | Accuracy | 95% CI (Wilson) | Unparsed | Failed | Reference scorer's figure (outputs counted) |");
        md.AppendLine("|---|---:|---:|---:|---|---:|---:|---:|");
        foreach (var s in scores)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {s.Benchmark} | {s.Total} | {s.Correct} | {s.Accuracy * 100:F1}% | {s.Ci95Low * 100:F1}–{s.Ci95High * 100:F1}% | {s.Unparsed} | {s.Failed} | {ReferenceText(s.Reference)} |");
        }

        md.AppendLine();
        md.AppendLine(Definitions);
        return md.ToString();
    }

    /// <summary>"61.2% (of 1270)", or "—" when the reference counted nothing.</summary>
    public static string ReferenceText(ReferenceFigure? reference) =>
        reference is { } r ? string.Create(CultureInfo.InvariantCulture, $"{r.Accuracy * 100:F1}% (of {r.Counted})") : "—";
}
