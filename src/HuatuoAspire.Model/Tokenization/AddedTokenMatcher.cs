namespace HuatuoAspire.Model.Tokenization;

/// <summary>
/// Finds added tokens in text the way Hugging Face's added-vocabulary split does: scanning left to right, at each
/// position the longest token that starts there wins (aho-corasick LeftmostLongest), and a token with lstrip/rstrip
/// swallows the whitespace beside it.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        _byFirstChar = tokens.Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    /// <summary>The matches in order as [start, end) ranges of <paramref name="text"/>, stripped whitespace included.</summary>
    public IEnumerable<(int Start, int End, AddedToken Token)> Find(string text)
    {
        if (_byFirstChar.Count == 0) yield break;
        var previousEnd = 0;
        for (var i = 0; i < text.Length;)
        {
            var token = _byFirstChar.TryGetValue(text[i], out var candidates) ? LongestAt(text, i, candidates) : null;
            if (token is null) { i++; continue; }
            var start = i;
            var end = i + token.Content.Length;
            if (token.LStrip) while (start > previousEnd && char.IsWhiteSpace(text[start - 1])) start--;
            if (token.RStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            yield return (start, end, token);
            previousEnd = end;
            i = end;
        }
    }

    private static AddedToken? LongestAt(string text, int position, AddedToken[] candidates)
    {
        foreach (var candidate in candidates)
            if (position + candidate.Content.Length <= text.Length
                && string.CompareOrdinal(text, position, candidate.Content, 0, candidate.Content.Length) == 0)
                return candidate;
        return null;
    }
}
