using System.Text.RegularExpressions;
using HuatuoAspire.Domain;

namespace HuatuoAspire.Evaluation;

/// <summary>
/// Which rule found the answer letter; None means the output was empty or gave no clear answer. The names are stored
/// (results.jsonl, the database), so they stay: AnswerIs is any answer phrase, StandaloneLetter a letter set apart.
/// </summary>
public enum ExtractionRule { None, AnswerIs, StandaloneLetter, OptionText, MostSimilarOption }

public sealed record ExtractedAnswer(string? Letter, ExtractionRule Rule)
{
    public bool IsParsed => Letter is not null;

    public static readonly ExtractedAnswer Unparsed = new(null, ExtractionRule.None);
}

/// <summary>
/// The option a person reads as the answer, or none. Only the text after <c>## Final Response</c> counts when the
/// output has one. In order: the last answer phrase, in any case (<c>answer: c</c>, <c>the answer is (C)</c>,
/// <c>I would choose B</c>, <c>correct option is d</c>, <c>option D is correct</c>, <c>\boxed{C}</c>), so a conclusion beats letters
/// merely discussed; then one letter set apart (<c>**C**</c>, a line starting <c>C.</c> or <c>(C)</c>); then an
/// option's text, only when it is the one option named or the one named after an answer phrase; last, an option
/// similar to the whole output, only by a clear margin. Anything else is unparsed and counts as wrong: a fallback
/// never turns a refusal or gibberish into a letter.
/// </summary>
public static partial class AnswerExtractor
{
    /// <summary>The similarity fallback answers only above this ratio and this far ahead of the next option.</summary>
    public const double SimilarityFloor = 0.8;
    public const double SimilarityMargin = 0.2;

    /// <summary>A rule stored by name (the database column); unknown or absent names read as None.</summary>
    public static ExtractionRule ParseRule(string? name) =>
        Enum.TryParse<ExtractionRule>(name, ignoreCase: false, out var rule) ? rule : ExtractionRule.None;

    public static ExtractedAnswer Extract(string? output, IReadOnlyList<KeyValuePair<string, string>> options)
    {
        if (string.IsNullOrWhiteSpace(output)) return ExtractedAnswer.Unparsed;
        var text = output.Replace("\r\n", "\n", StringComparison.Ordinal);
        var final = text.LastIndexOf(ReasoningFormat.FinalResponseHeader, StringComparison.Ordinal);
        if (final >= 0) text = text[(final + ReasoningFormat.FinalResponseHeader.Length)..];
        if (string.IsNullOrWhiteSpace(text)) return ExtractedAnswer.Unparsed;
        var labels = options.Select(o => o.Key.ToUpperInvariant()).ToHashSet(StringComparer.Ordinal);

        if (LastAnswerPhrase(text, labels) is { } phrase) return new(phrase, ExtractionRule.AnswerIs);
        if (SingleStandaloneLetter(text, labels) is { } standalone) return new(standalone, ExtractionRule.StandaloneLetter);
        if (NamedOption(text, options) is { } named) return new(named, ExtractionRule.OptionText);
        return MostSimilarOption(text, options) is { } similar ? new(similar, ExtractionRule.MostSimilarOption) : ExtractedAnswer.Unparsed;
    }

    /// <summary>The letter of the last answer phrase in the text, whichever phrase it is.</summary>
    private static string? LastAnswerPhrase(string text, HashSet<string> labels)
    {
        var best = (Position: -1, Letter: (string?)null);
        foreach (var pattern in (Regex[])[AnswerPrefixPattern(), ChoiceVerbPattern(), LetterIsCorrectPattern(), BoxedLetterPattern()])
        {
            foreach (Match m in pattern.Matches(text))
            {
                var letter = LetterOf(m, labels);
                if (letter is not null && m.Groups["letter"].Index > best.Position) best = (m.Groups["letter"].Index, letter);
            }
        }

        return best.Letter;
    }

    /// <summary>The label a match names, or null when it is not an option or is the article "a" / the pronoun "I".</summary>
    private static string? LetterOf(Match m, HashSet<string> labels)
    {
        var letter = m.Groups["letter"].Value;
        var upper = letter.ToUpperInvariant();
        if (!labels.Contains(upper)) return null;
        var bracketed = m.Groups["open"].Length > 0;
        // "answer is a beta blocker", "I choose a drug", "my answer: I think": words, not options.
        if (!bracketed && m.Groups["word"].Success && (letter is "a" or "i" or "I")) return null;
        return upper;
    }

    /// <summary>One letter set apart (bold, or opening a line); several different ones are no clear answer.</summary>
    private static string? SingleStandaloneLetter(string text, HashSet<string> labels)
    {
        foreach (var pattern in (Regex[])[BoldLetterPattern(), LeadingLetterPattern()])
        {
            var letters = pattern.Matches(text).Select(m => m.Groups["letter"].Value.ToUpperInvariant()).Where(labels.Contains).Distinct().ToList();
            if (letters.Count == 1) return letters[0];
            if (letters.Count > 1) return null;
        }

        return null;
    }

    /// <summary>
    /// The option whose text the output names: the only one named (an option inside a longer named one does not count),
    /// or the one named right after the last answer phrase.
    /// </summary>
    private static string? NamedOption(string text, IReadOnlyList<KeyValuePair<string, string>> options)
    {
        var lower = text.ToLowerInvariant();
        var spans = new List<(string Label, int Start, int End)>();
        foreach (var (label, optionText) in options)
        {
            var needle = optionText.Trim().ToLowerInvariant();
            if (needle.Length == 0) continue;
            for (var at = lower.IndexOf(needle, StringComparison.Ordinal); at >= 0; at = lower.IndexOf(needle, at + 1, StringComparison.Ordinal))
            {
                if (IsWordBoundary(lower, at - 1) && IsWordBoundary(lower, at + needle.Length)) spans.Add((label.ToUpperInvariant(), at, at + needle.Length));
            }
        }

        // "aspirin" inside "low-dose aspirin" names the longer option only.
        var named = spans.Where(s => !spans.Any(o => o.Label != s.Label && o.Start <= s.Start && o.End >= s.End && o.End - o.Start > s.End - s.Start)).ToList();
        var distinct = named.Select(s => s.Label).Distinct().ToList();
        if (distinct.Count == 1) return distinct[0];
        if (distinct.Count == 0) return null;
        var lastPhrase = OptionTextPhrasePattern().Matches(lower).LastOrDefault();
        if (lastPhrase is null) return null;
        var after = lastPhrase.Index + lastPhrase.Length;
        return named.Where(s => s.Start == after).Select(s => s.Label).FirstOrDefault();
    }

    private static bool IsWordBoundary(string text, int index) => index < 0 || index >= text.Length || !char.IsLetterOrDigit(text[index]);

    private static string? MostSimilarOption(string text, IReadOnlyList<KeyValuePair<string, string>> options)
    {
        var lower = text.Trim().ToLowerInvariant();
        var ranked = options.Select(o => (Label: o.Key.ToUpperInvariant(), Ratio: SequenceSimilarity.Ratio(o.Value.Trim().ToLowerInvariant(), lower)))
            .OrderByDescending(r => r.Ratio).ToList();
        if (ranked.Count == 0 || ranked[0].Ratio < SimilarityFloor) return null;
        var runnerUp = ranked.Count > 1 ? ranked[1].Ratio : 0;
        return ranked[0].Ratio - runnerUp >= SimilarityMargin ? ranked[0].Label : null;
    }

    // A letter as an answer names it: optional bold and bracket, then one letter not followed by a letter or digit;
    // "word" notes a following word, which makes a lowercase "a" the article.
    private const string Letter = @"(?<open>(?:\*\*|__)?\s*[\(\[]?)\s*(?<letter>[A-Za-z])(?![A-Za-z0-9'’])(?<word>(?=[ \t]+[A-Za-z]))?";

    [GeneratedRegex(@"(?:\banswer|\b(?:correct|right|best|final)\s+(?:option|choice|response|letter)|答案)[""']?(?:\s*(?:is|would\s+be|will\s+be|should\s+be|must\s+be|here\s+is|是|为)(?:\s+(?:probably|likely|most\s+likely|clearly|definitely|therefore))?)?(?:\s*[:=\-–—：])?\s*[""']?\s*(?:(?:option|choice|letter)\s+)?" + Letter,
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AnswerPrefixPattern();

    [GeneratedRegex(@"\\boxed\{\s*(?:\\text\{)?(?<letter>[A-Za-z])\s*\}", RegexOptions.CultureInvariant)]
    private static partial Regex BoxedLetterPattern();

    [GeneratedRegex(@"(?<!\bnot\s)(?<!n['’]t\s)\b(?:choose|chose|select|pick|go\s+with|going\s+with|opt\s+for|answer\s+with)\s+(?:(?:option|choice|answer|letter)\s+)?" + Letter,
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ChoiceVerbPattern();

    [GeneratedRegex(@"(?:\b(?:option|choice|answer)\s+|^[ \t]*|[.,;:!?][ \t]*|\b(?:so|thus|therefore|hence)[ \t]+)" + Letter + @"\s+(?:is|would\s+be|seems)\s+(?:the\s+)?(?:correct|right|best|most\s+appropriate|most\s+likely|answer)\b",
        RegexOptions.IgnoreCase | RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex LetterIsCorrectPattern();

    [GeneratedRegex(@"\*\*\s*\(?(?<letter>[A-Za-z])\)?\s*(?:[.):][^*\n]*)?\*\*", RegexOptions.CultureInvariant)]
    private static partial Regex BoldLetterPattern();

    // "C. Warfarin", "(C) warfarin", "C", "C — warfarin"; not "E. coli" (a lowercase word after the period is a name).
    [GeneratedRegex(@"^[ \t]*\(?(?<letter>[A-Za-z])(?:\.(?![ \t]*[a-z])|\)|[ \t]*$|\)?[ \t]+[-–—:])", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex LeadingLetterPattern();

    [GeneratedRegex(@"\b(?:answer|diagnosis|treatment|management|choice|option|step|cause|mechanism|finding|drug)\s+(?:here\s+)?(?:is|would\s+be|will\s+be|should\s+be|:)\s+(?:the\s+|an?\s+)?|\b(?:choose|select|pick|go\s+with|give|start)\s+(?:the\s+|an?\s+)?",
        RegexOptions.CultureInvariant)]
    private static partial Regex OptionTextPhrasePattern();
}
