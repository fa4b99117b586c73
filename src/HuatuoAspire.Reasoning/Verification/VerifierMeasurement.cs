using System.Globalization;
using System.Text.RegularExpressions;
using HuatuoAspire.Domain.Verification;

namespace HuatuoAspire.Reasoning.Verification;

public enum PairKind
{
    /// <summary>The reference answer stated in a sentence, as a model concludes.</summary>
    TrueStatement,
    /// <summary>The reference reworded: synonym or abbreviation swap, case, punctuation, plural, unit conversion.</summary>
    Paraphrase,
    /// <summary>The reference with one decisive change: a number, a laterality, a direction, a key word.</summary>
    NearMiss,
    /// <summary>Another problem's reference answer of the same type (number or text).</summary>
    WrongAnswer,
    /// <summary>
    /// The source multiple-choice option's own text against the reference the rewrite made of it: real, independent
    /// wording differences ("1 week" / "7 days", abbreviations, typos of the source data), all correct.
    /// </summary>
    SourceOption,
}

public sealed record LabelledPair(string Response, string Reference, bool Correct, PairKind Kind, int Source);

public sealed record VerifierScore(string Verifier, int TruePositives, int FalsePositives, int TrueNegatives, int FalseNegatives,
    IReadOnlyDictionary<PairKind, double> AccuracyByKind)
{
    public int Total => TruePositives + FalsePositives + TrueNegatives + FalseNegatives;
    public double Accuracy => Total == 0 ? 0 : (TruePositives + TrueNegatives) / (double)Total;
    public double Precision => TruePositives + FalsePositives == 0 ? 0 : TruePositives / (double)(TruePositives + FalsePositives);
    public double Recall => TruePositives + FalseNegatives == 0 ? 0 : TruePositives / (double)(TruePositives + FalseNegatives);
}

/// <summary>
/// Builds a labelled set of (response, reference, correct?) pairs from reference answers and scores verifiers on
/// it. The paraphrases reuse the synonym table, so the rule verifier's figure on them is an upper bound; the near
/// misses and wrong answers are independent of it.
/// </summary>
public static partial class VerifierMeasurement
{
    private static readonly string[] StatementTemplates =
    [
        "The most likely answer is {0}.",
        "Based on the findings, the answer is {0}.",
        "{0}",
        "Therefore, the final conclusion is {0}.",
    ];

    /// <param name="sourceOptions">Per reference, the text of the multiple-choice option it was written from (or null).</param>
    public static List<LabelledPair> BuildPairs(IReadOnlyList<string> references, int seed = 7, MedicalTerminology? terminology = null,
        IReadOnlyList<string?>? sourceOptions = null)
    {
        terminology ??= MedicalTerminology.Default;
        var random = new Random(seed);
        var pairs = new List<LabelledPair>();
        var numeric = references.Select(IsNumeric).ToList();
        for (var i = 0; i < references.Count; i++)
        {
            var reference = references[i].Trim();
            if (reference.Length == 0) continue;
            pairs.Add(new(string.Format(CultureInfo.InvariantCulture, StatementTemplates[random.Next(StatementTemplates.Length)], reference), reference, true, PairKind.TrueStatement, i));
            pairs.Add(new(Paraphrase(reference, random, terminology), reference, true, PairKind.Paraphrase, i));
            if (NearMiss(reference, random, references) is { } nearMiss) pairs.Add(new(nearMiss, reference, false, PairKind.NearMiss, i));

            var candidates = Enumerable.Range(0, references.Count)
                .Where(j => j != i && numeric[j] == numeric[i] && !string.Equals(references[j].Trim(), reference, StringComparison.OrdinalIgnoreCase))
                .ToList();
            if (candidates.Count > 0)
            {
                var other = references[candidates[random.Next(candidates.Count)]].Trim();
                pairs.Add(new(string.Format(CultureInfo.InvariantCulture, StatementTemplates[random.Next(StatementTemplates.Length)], other), reference, false, PairKind.WrongAnswer, i));
            }
            // Option texts that are letters ("bd"), "All"/"None" or identical to the reference say nothing.
            if (sourceOptions?[i]?.Trim() is { Length: > 4 } option && !string.Equals(option, reference, StringComparison.Ordinal) &&
                !option.Equals("None of the above", StringComparison.OrdinalIgnoreCase) && !option.Equals("All of the above", StringComparison.OrdinalIgnoreCase))
                pairs.Add(new(option, reference, true, PairKind.SourceOption, i));
        }
        return pairs;
    }

    public static async Task<VerifierScore> ScoreAsync(IAnswerVerifier verifier, IReadOnlyList<LabelledPair> pairs, int concurrency = 1,
        IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        var verdicts = new bool[pairs.Count];
        var done = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, pairs.Count), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                verdicts[i] = (await verifier.VerifyAsync(pairs[i].Response, pairs[i].Reference, ct).ConfigureAwait(false)).IsCorrect;
                progress?.Report(Interlocked.Increment(ref done));
            }).ConfigureAwait(false);
        return Score(verifier.Name, pairs, verdicts);
    }

    /// <summary>The paper's "exact match" baseline: equal after trimming, lower-casing and dropping a final period.</summary>
    public static VerifierScore ScoreExactMatch(IReadOnlyList<LabelledPair> pairs) =>
        Score("exact-match", pairs, pairs.Select(p => Simple(p.Response) == Simple(p.Reference)).ToArray());

    private static string Simple(string text) => text.Trim().TrimEnd('.').Trim().ToLowerInvariant();

    private static VerifierScore Score(string name, IReadOnlyList<LabelledPair> pairs, bool[] verdicts)
    {
        int tp = 0, fp = 0, tn = 0, fn = 0;
        for (var i = 0; i < pairs.Count; i++)
        {
            switch (pairs[i].Correct, verdicts[i])
            {
                case (true, true): tp++; break;
                case (false, true): fp++; break;
                case (false, false): tn++; break;
                case (true, false): fn++; break;
            }
        }
        var byKind = Enum.GetValues<PairKind>().ToDictionary(kind => kind, kind =>
        {
            var indices = Enumerable.Range(0, pairs.Count).Where(i => pairs[i].Kind == kind).ToList();
            return indices.Count == 0 ? 0 : indices.Count(i => verdicts[i] == pairs[i].Correct) / (double)indices.Count;
        });
        return new VerifierScore(name, tp, fp, tn, fn, byKind);
    }

    private static bool IsNumeric(string reference) => QuantityParser.Extract(AnswerText.Fold(reference)).Quantities.Count > 0;

    private static string Paraphrase(string reference, Random random, MedicalTerminology terminology)
    {
        // Unit conversions first: they are the hardest paraphrase for a string matcher.
        var converted = ConvertedQuantity(reference);
        if (converted is not null) return converted;

        var swapped = terminology.SwapOneTerm(reference, random);
        if (swapped is not null) return swapped;

        var words = reference.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        var variant = random.Next(3);
        if (variant == 0 && words.Count > 0)
        {
            var last = words[^1].TrimEnd('.');
            var isPlural = last.Length > 3 && last.EndsWith('s') && !last.EndsWith("ss", StringComparison.Ordinal) &&
                           !last.EndsWith("us", StringComparison.Ordinal) && !last.EndsWith("is", StringComparison.Ordinal) && !last.EndsWith("es", StringComparison.Ordinal);
            var canTakePlural = last.Length > 3 && char.IsLower(last[^1]) && !last.EndsWith('s') && !last.EndsWith('y');
            if (isPlural || canTakePlural)
            {
                words[^1] = isPlural ? last[..^1] : last + "s";
                return string.Join(' ', words);
            }
        }
        if (variant == 1) return "the " + reference.ToLowerInvariant().TrimEnd('.');
        return reference.ToUpperInvariant().Replace("-", " ", StringComparison.Ordinal) + ".";
    }

    private static string? ConvertedQuantity(string reference)
    {
        var match = QuantityInTextRegex().Match(reference);
        if (!match.Success) return null;
        var value = double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
        var unit = match.Groups["unit"].Value.ToLowerInvariant();
        string? replacement = unit switch
        {
            "days" when value % 7 == 0 => $"{value / 7} week{(value / 7 == 1 ? "" : "s")}",
            "mg" => $"{value / 1000} g",
            "g" => $"{value * 1000} mg",
            "hours" => $"{value * 60} minutes",
            "%" => $"{value} percent",
            "kg" => $"{value * 1000} g",
            "ml" => $"{value / 1000} L",
            _ => null,
        };
        return replacement is null ? null : reference[..match.Index] + replacement + reference[(match.Index + match.Length)..];
    }

    private static string? NearMiss(string reference, Random random, IReadOnlyList<string> references)
    {
        var number = NumberRegex().Match(reference);
        if (number.Success)
        {
            var value = double.Parse(number.Value, CultureInfo.InvariantCulture);
            var changed = value < 1 ? value + 1 : value >= 10 ? Math.Round(value * (random.Next(2) == 0 ? 0.7 : 1.3)) : value + (random.Next(2) == 0 ? -1 : 1);
            if (changed == value) changed = value + 1;
            return reference[..number.Index] + changed.ToString(CultureInfo.InvariantCulture) + reference[(number.Index + number.Length)..];
        }
        var words = reference.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        for (var i = 0; i < words.Count; i++)
        {
            var bare = words[i].Trim('.', ',', ';', ':').ToLowerInvariant();
            if (AnswerText.OppositeOf(bare) is { } opposite)
            {
                words[i] = opposite;
                return string.Join(' ', words);
            }
            foreach (var (from, to) in new[] { ("hyper", "hypo"), ("hypo", "hyper"), ("tachy", "brady"), ("brady", "tachy") })
            {
                if (bare.StartsWith(from, StringComparison.Ordinal))
                {
                    words[i] = to + words[i][from.Length..];
                    return string.Join(' ', words);
                }
            }
        }
        // Replace the longest word with the longest word of another answer: same shape, different content.
        var longest = words.Select((w, i) => (w, i)).OrderByDescending(x => x.w.Length).First();
        for (var tries = 0; tries < 20; tries++)
        {
            var other = references[random.Next(references.Count)].Split(' ', StringSplitOptions.RemoveEmptyEntries).OrderByDescending(w => w.Length).FirstOrDefault();
            if (other is null || other.Length < 5 || string.Equals(other.Trim('.'), longest.w.Trim('.'), StringComparison.OrdinalIgnoreCase)) continue;
            if (reference.Contains(other, StringComparison.OrdinalIgnoreCase)) continue;
            words[longest.i] = other.Trim('.', ',');
            return string.Join(' ', words);
        }
        return null;
    }

    [GeneratedRegex(@"(?<![\w.])(?<value>\d+(?:\.\d+)?)\s?(?<unit>days|mg|g|hours|%|kg|ml)\b", RegexOptions.IgnoreCase)]
    private static partial Regex QuantityInTextRegex();

    [GeneratedRegex(@"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")]
    private static partial Regex NumberRegex();
}
