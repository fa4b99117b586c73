namespace HuatuoAspire.Domain.Search;

/// <summary>The refinement strategies the search draws from, and their names as the paper writes them.</summary>
public static class SearchStrategies
{
    public static readonly IReadOnlyList<SearchStrategy> All =
        [SearchStrategy.Backtracking, SearchStrategy.ExploringNewPaths, SearchStrategy.Verification, SearchStrategy.Correction];

    /// <summary>Backtracking needs earlier refinements to return to, so the first refinement of an attempt never uses it.</summary>
    public static readonly IReadOnlyList<SearchStrategy> FirstRefinement =
        [SearchStrategy.ExploringNewPaths, SearchStrategy.Verification, SearchStrategy.Correction];

    public static string DisplayName(this SearchStrategy strategy) => strategy switch
    {
        SearchStrategy.Backtracking => "Backtracking",
        SearchStrategy.ExploringNewPaths => "Exploring New Paths",
        SearchStrategy.Verification => "Verification",
        SearchStrategy.Correction => "Correction",
        _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy, null),
    };

    public static SearchStrategy Choose(Random random, bool firstRefinement)
    {
        var pool = firstRefinement ? FirstRefinement : All;
        return pool[random.Next(pool.Count)];
    }
}
