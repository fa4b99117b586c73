namespace HuatuoAspire.Model.StructuredOutput;

/// <summary>
/// For one automaton state, how many bytes the shortest completion needs after each allowed token (saturated at
/// <see cref="TokenAutomaton.ClosingHorizon"/>, which no remaining budget in the closing tail reaches): what a cursor
/// needs in the last tokens of its budget, computed once per state instead of one automaton walk per token and step.
/// Most tokens share one distance (a string's content tokens leave the completion as it was), so only the others are
/// listed, largest distance first: a step then touches only the tokens that change between kept and refused.
/// End-of-sequence tokens are not included (they are always kept where allowed).
/// </summary>
internal sealed class ClosingDistances
{
    public ClosingDistances(int common, int commonCount, int[] ids, int[] distances)
    {
        Common = common;
        CommonCount = commonCount;
        Ids = ids;
        Distances = distances;
        Max = Math.Max(commonCount > 0 ? common : -1, distances.Length > 0 ? distances[0] : -1);
    }

    /// <summary>The distance most allowed tokens share; their ids are not listed.</summary>
    public int Common { get; }

    public int CommonCount { get; }

    /// <summary>The other allowed tokens, by <see cref="Distances"/> descending.</summary>
    public int[] Ids { get; }

    public int[] Distances { get; }

    /// <summary>The largest distance after any allowed token (-1 when no token but end-of-sequence is allowed).</summary>
    public int Max { get; }

    /// <summary>Listed tokens whose distance is more than <paramref name="left"/>: a prefix of <see cref="Ids"/>.</summary>
    public int CountAbove(int left)
    {
        // Descending order: the first index whose distance is ≤ left.
        int lo = 0, hi = Distances.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (Distances[mid] > left) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }
}
