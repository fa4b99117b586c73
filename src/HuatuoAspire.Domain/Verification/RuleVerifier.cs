namespace HuatuoAspire.Domain.Verification;

/// <summary>
/// Verifies an answer without an LLM: numbers with units and a tolerance, then normalised text with medical
/// abbreviations and synonyms folded, then token-set overlap with a threshold and a negation guard.
/// </summary>
public sealed class RuleVerifier(RuleVerifierOptions? options = null, MedicalTerminology? terminology = null) : IAnswerVerifier
{
    private readonly RuleVerifierOptions _options = options ?? new RuleVerifierOptions();
    private readonly MedicalTerminology _terminology = terminology ?? MedicalTerminology.Default;

    public string Name => "rule";

    public Task<VerificationResult> VerifyAsync(string response, string reference, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Verify(response, reference));
    }

    public VerificationResult Verify(string response, string reference)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(reference);
        if (string.IsNullOrWhiteSpace(reference)) return Verdict(false, "reference answer is empty");
        if (string.IsNullOrWhiteSpace(response)) return Verdict(false, "response is empty");

        // Synonyms first, so that the "2" of "type 2 diabetes" is part of a term and not a number.
        var (referenceQuantities, referenceRemainder) = QuantityParser.Extract(CanonicalText(reference));
        var (responseQuantities, responseRemainder) = QuantityParser.Extract(CanonicalText(response));

        string? numericReason = null;
        if (referenceQuantities.Count > 0)
        {
            foreach (var expected in referenceQuantities)
            {
                if (!responseQuantities.Any(actual => QuantityParser.Matches(expected, actual, _options.RelativeTolerance)))
                {
                    var found = responseQuantities.Count == 0 ? "no number" : string.Join(", ", responseQuantities);
                    return Verdict(false, $"expected {expected} (±{_options.RelativeTolerance:P1}), response has {found}");
                }
            }
            numericReason = $"numbers match ({string.Join(", ", referenceQuantities)})";
        }

        var referenceWords = _terminology.Canonicalize(AnswerText.Words(referenceRemainder));
        var responseWords = _terminology.Canonicalize(AnswerText.Words(responseRemainder));
        var referenceContent = AnswerText.ContentWords(referenceWords);
        if (referenceContent.Count == 0)
        {
            if (numericReason is not null) return Verdict(true, numericReason);
            return string.Join(' ', referenceWords) == string.Join(' ', responseWords)
                ? Verdict(true, "normalised texts are equal")
                : Verdict(false, "reference has no content words and the normalised texts differ");
        }

        var responseContent = AnswerText.ContentWords(responseWords);
        var prefix = numericReason is null ? "" : numericReason + "; ";
        if (referenceContent.SequenceEqual(responseContent)) return Verdict(true, prefix + "normalised texts are equal");

        var referenceSet = referenceContent.ToHashSet(StringComparer.Ordinal);
        var responseSet = responseContent.ToHashSet(StringComparer.Ordinal);
        var referenceMatched = referenceSet.Count(word => Contains(responseSet, word));
        var responseMatched = responseSet.Count(word => Contains(referenceSet, word));

        var negation = FindNegation(responseContent, referenceSet);
        if (negation is not null) return Verdict(false, $"{prefix}response negates the answer ('{negation}')");
        foreach (var word in referenceSet)
        {
            var opposite = AnswerText.OppositeOf(word);
            if (opposite is not null && responseSet.Contains(opposite) && !responseSet.Contains(word))
                return Verdict(false, $"{prefix}response says '{opposite}' where the reference says '{word}'");
        }

        double score;
        string measure;
        if (responseSet.Count <= referenceSet.Count + _options.AnswerPhraseSlack)
        {
            if (_options.RejectSubstitutions && referenceMatched < referenceSet.Count && responseMatched < responseSet.Count)
            {
                var missing = referenceSet.Where(word => !Contains(responseSet, word)).Select(Readable);
                var instead = responseSet.Where(word => !Contains(referenceSet, word)).Select(Readable);
                return Verdict(false, $"{prefix}response has '{string.Join(" ", instead)}' where the reference has '{string.Join(" ", missing)}'");
            }
            score = (referenceMatched + responseMatched) / (double)(referenceSet.Count + responseSet.Count);
            measure = "Dice overlap";
        }
        else
        {
            score = referenceMatched / (double)referenceSet.Count;
            measure = "reference recall";
        }
        var correct = score >= _options.OverlapThreshold;
        return Verdict(correct, $"{prefix}{measure} {score:0.00} {(correct ? ">=" : "<")} {_options.OverlapThreshold:0.00} ({referenceMatched}/{referenceSet.Count} reference words found)");
    }

    private static string Readable(string word) => word.Replace('_', ' ');

    private string CanonicalText(string text) => string.Join(' ', _terminology.Canonicalize(AnswerText.Words(text)));

    private bool Contains(HashSet<string> words, string word)
    {
        if (words.Contains(word)) return true;
        if (word.Length < _options.TypoMinimumLength || word.Contains('_')) return false;
        return words.Any(other => other.Length >= _options.TypoMinimumLength && !other.Contains('_') &&
                                  Math.Abs(other.Length - word.Length) <= 1 && AnswerText.EditDistance(other, word) <= 1 &&
                                  !OppositePrefixes(other, word));
    }

    /// <summary>hyper/hypo and similar pairs are one or two edits apart but mean the opposite.</summary>
    private static bool OppositePrefixes(string a, string b)
    {
        string[][] pairs = [["hyper", "hypo"], ["in", "de"], ["an", "hy"]];
        return pairs.Any(pair => (a.StartsWith(pair[0], StringComparison.Ordinal) && b.StartsWith(pair[1], StringComparison.Ordinal)) ||
                                 (a.StartsWith(pair[1], StringComparison.Ordinal) && b.StartsWith(pair[0], StringComparison.Ordinal)));
    }

    /// <summary>A negation word in the three words before the first reference word, absent from the reference.</summary>
    private string? FindNegation(List<string> responseContent, HashSet<string> referenceSet)
    {
        var responseSet = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < responseContent.Count; i++)
        {
            responseSet.Clear();
            responseSet.Add(responseContent[i]);
            if (!referenceSet.Any(word => Contains(responseSet, word))) continue;
            for (var j = Math.Max(0, i - 3); j < i; j++)
            {
                var word = responseContent[j];
                if (AnswerText.NegationWords.Contains(word) && !referenceSet.Contains(word)) return word;
            }
            return null;
        }
        return null;
    }

    private VerificationResult Verdict(bool correct, string reason) => new(correct, reason, Name);
}
