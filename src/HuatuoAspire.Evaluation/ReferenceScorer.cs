using System.Text.RegularExpressions;

namespace HuatuoAspire.Evaluation;

/// <summary>The reference scorer's two readings of one output: its first and its last match.</summary>
public sealed record ReferenceMatch(string First, string Last, int Stage);

/// <summary>The reference scorer's figure of one benchmark: outputs it counted, first- and last-match hits, and the better of the two.</summary>
public sealed record ReferenceFigure(int Counted, int FirstMatchCorrect, int LastMatchCorrect)
{
    public double Accuracy => Counted == 0 ? 0 : Math.Max(FirstMatchCorrect, LastMatchCorrect) / (double)Counted;
}

/// <summary>One output as the reference scorer sees it.</summary>
public sealed record ReferenceInput(string Source, string? Output, IReadOnlyList<KeyValuePair<string, string>> Options, string AnswerIdx);

/// <summary>
/// The figure the HuatuoGPT-o1 repository reports (<c>evaluation/eval.py</c> and <c>evaluation/scorer.py</c>),
/// reimplemented so users can compare with the paper; it is not the headline. The reference drops empty outputs
/// (after removing "&lt;/s&gt;" and one leading space), reads each output with case-sensitive "answer is X", then
/// any option letter between non-word characters, then the option text found latest, then the most similar option
/// (which always gives a letter); and per source it reports the better of the first-match and the last-match
/// accuracy. Python's <c>\W</c> and .NET's differ only on rare characters (combining marks, superscript digits).
/// </summary>
public static partial class ReferenceScorer
{
    private const string FinalResponseSplit = "## Final Response\n\n";
    private const string Labels = "ABCDEFGHIJKLMN";

    /// <summary>Per source, the reference's figure; sources whose outputs were all empty are absent, as in the reference.</summary>
    public static IReadOnlyDictionary<string, ReferenceFigure> Score(IEnumerable<ReferenceInput> outputs)
    {
        var counts = new Dictionary<string, (int Counted, int First, int Last)>(StringComparer.Ordinal);
        foreach (var item in outputs)
        {
            var output = Postprocess(item.Output);
            if (output.Length == 0) continue;
            var match = MatchChoice(output, item.Options);
            counts.TryGetValue(item.Source, out var c);
            counts[item.Source] = (c.Counted + 1,
                c.First + (string.Equals(match.First, item.AnswerIdx, StringComparison.OrdinalIgnoreCase) ? 1 : 0),
                c.Last + (string.Equals(match.Last, item.AnswerIdx, StringComparison.OrdinalIgnoreCase) ? 1 : 0));
        }

        return counts.ToDictionary(kv => kv.Key, kv => new ReferenceFigure(kv.Value.Counted, kv.Value.First, kv.Value.Last), StringComparer.Ordinal);
    }

    /// <summary>eval.py's <c>postprocess_output</c>; an empty result is dropped from the figure.</summary>
    public static string Postprocess(string? output)
    {
        var text = (output ?? "").Replace("</s>", "", StringComparison.Ordinal);
        return text.StartsWith(' ') ? text[1..] : text;
    }

    /// <summary>scorer.py's <c>match_choice</c>: the first and last letter it reads, and which of its four stages read them.</summary>
    public static ReferenceMatch MatchChoice(string text, IReadOnlyList<KeyValuePair<string, string>> options)
    {
        var split = text.LastIndexOf(FinalResponseSplit, StringComparison.Ordinal);
        if (split >= 0) text = text[(split + FinalResponseSplit.Length)..];

        var strict = AnswerIsPattern().Matches(text);
        if (strict.Count > 0) return new(strict[0].Groups[2].Value, strict[^1].Groups[2].Value, 1);

        var letters = Labels[..Math.Min(options.Count, Labels.Length)];
        var loose = LetterPattern(letters).Matches(text);
        if (loose.Count > 0) return new(loose[0].Groups[2].Value, loose[^1].Groups[2].Value, 1);

        var lower = text.ToLowerInvariant();
        var found = options.Where(o => lower.Contains(o.Value.ToLowerInvariant(), StringComparison.Ordinal)).ToList();
        if (found.Count > 0)
        {
            // sorted(..., reverse=True)[0] is the greatest position, the earliest option among equals (a stable sort).
            var last = found.MaxBy(o => LastPosition(lower, o.Value.ToLowerInvariant())).Key;
            // The reference's "first" is the option whose FIRST occurrence is latest (its sort is reversed there too).
            var first = found.MaxBy(o => lower.IndexOf(o.Value.ToLowerInvariant(), StringComparison.Ordinal)).Key;
            return new(first, last, 2);
        }

        // find_most_similar_index: ">=" from 0, so the last of the most similar options, the last option when none is.
        var similar = 0;
        var highest = 0.0;
        for (var i = 0; i < options.Count; i++)
        {
            var ratio = SequenceSimilarity.Ratio(options[i].Value.ToLowerInvariant(), lower);
            if (ratio >= highest) (similar, highest) = (i, ratio);
        }

        return new(options[similar].Key, options[similar].Key, 3);
    }

    /// <summary>Python's <c>str.rindex</c>: an empty needle is found at the very end.</summary>
    private static int LastPosition(string text, string needle) => needle.Length == 0 ? text.Length : text.LastIndexOf(needle, StringComparison.Ordinal);

    [GeneratedRegex(@"(answer is\s*?)([A-N])")]
    private static partial Regex AnswerIsPattern();

    private static Regex LetterPattern(string letters) => LetterPatterns.GetOrAdd(letters, l =>
        new Regex(@"([\u4e00-\u9fff]|is |是|项|\*|\W|\ |\(|为|^|'|""|#)(?![aA] )([" + l + @"])(\W|[\u4e00-\u9fff]|$)", RegexOptions.Compiled));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Regex> LetterPatterns = new(StringComparer.Ordinal);
}
