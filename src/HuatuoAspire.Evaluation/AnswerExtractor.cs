using System.Text.RegularExpressions;
using HuatuoAspire.Domain;

namespace HuatuoAspire.Evaluation;

/// <summary>Which rule found the answer letter; None means the output was empty or nothing matched.</summary>
public enum ExtractionRule { None, AnswerIs, StandaloneLetter, OptionText, MostSimilarOption }

public sealed record ExtractedAnswer(string? Letter, ExtractionRule Rule)
{
    public bool IsParsed => Letter is not null;
}

/// <summary>
/// Answer extraction as the HuatuoGPT-o1 reference scorer, in its order: the text after <c>## Final Response</c>
/// when present; then "answer is X"; then a standalone option letter; then an option's text inside the answer; then
/// the most similar option text. Where a rule matches several times the LAST match is taken, always (the reference
/// headline takes the better of first and last, which flatters the model).
/// </summary>
public static partial class AnswerExtractor
{
    /// <summary>A rule stored by name (the database column); unknown or absent names read as None.</summary>
    public static ExtractionRule ParseRule(string? name) =>
        Enum.TryParse<ExtractionRule>(name, ignoreCase: false, out var rule) ? rule : ExtractionRule.None;

    public static ExtractedAnswer Extract(string? output, IReadOnlyList<KeyValuePair<string, string>> options)
    {
        if (string.IsNullOrWhiteSpace(output)) return new(null, ExtractionRule.None);
        var text = output.Replace("\r\n", "\n", StringComparison.Ordinal);
        var final = text.LastIndexOf(ReasoningFormat.FinalResponseHeader, StringComparison.Ordinal);
        if (final >= 0) text = text[(final + ReasoningFormat.FinalResponseHeader.Length)..];
        if (string.IsNullOrWhiteSpace(text)) return new(null, ExtractionRule.None);
        var labels = options.Select(o => o.Key).ToHashSet(StringComparer.Ordinal);

        // "answer is X", "answer is (X)", "answer is: **X**"; a lowercase letter only where it cannot be an article.
        string? last = null;
        foreach (Match m in AnswerIsPattern().Matches(text))
        {
            var letter = m.Groups["letter"].Value;
            var upper = letter.ToUpperInvariant();
            if (!labels.Contains(upper)) continue;
            var bracketed = m.Groups["open"].Length > 0 || m.Groups["close"].Length > 0;
            if (letter != upper && !bracketed && m.Groups["after"].Length > 0 && char.IsWhiteSpace(m.Groups["after"].Value[0])) continue;
            last = upper;
        }

        if (last is not null) return new(last, ExtractionRule.AnswerIs);

        foreach (Match m in StandaloneLetterPattern().Matches(text))
        {
            var letter = m.Groups["letter"].Value;
            // "A" and "I" followed by a space are usually the article and the pronoun, not options.
            if ((letter == "A" || letter == "I") && m.Groups["after"].Value == " ") continue;
            if (labels.Contains(letter)) last = letter;
        }

        if (last is not null) return new(last, ExtractionRule.StandaloneLetter);

        var lower = text.ToLowerInvariant();
        var best = (Label: (string?)null, End: -1, Length: -1);
        foreach (var (label, optionText) in options)
        {
            var needle = optionText.Trim().ToLowerInvariant();
            if (needle.Length == 0) continue;
            var at = lower.LastIndexOf(needle, StringComparison.Ordinal);
            if (at < 0) continue;
            var end = at + needle.Length;
            // Latest occurrence wins; at the same end the longer option ("low-dose aspirin" over "aspirin").
            if (end > best.End || (end == best.End && needle.Length > best.Length)) best = (label, end, needle.Length);
        }

        if (best.Label is not null) return new(best.Label, ExtractionRule.OptionText);

        string? similar = null;
        var highest = 0.0;
        foreach (var (label, optionText) in options)
        {
            var ratio = SequenceSimilarity.Ratio(optionText.ToLowerInvariant(), lower);
            // >= as the reference: among equally similar options the last one wins.
            if (ratio > 0 && ratio >= highest) (similar, highest) = (label, ratio);
        }

        return similar is null ? new(null, ExtractionRule.None) : new(similar, ExtractionRule.MostSimilarOption);
    }

    [GeneratedRegex(@"answer\s+is\s*:?\s*(?<open>\*\*|\(|\[)?\s*(?<letter>[A-Za-z])(?<close>\*\*|\)|\])?(?<after>[^A-Za-z0-9]|$)", RegexOptions.IgnoreCase)]
    private static partial Regex AnswerIsPattern();

    [GeneratedRegex(@"(?<=^|[^A-Za-z0-9_])(?<letter>[A-Z])(?<after>[^A-Za-z0-9_]|$)")]
    private static partial Regex StandaloneLetterPattern();
}
