namespace HuatuoAspire.Domain.Search;

/// <summary>
/// How a step of the search came about: the initial chain of an attempt, or one of the four ways to refine a chain
/// of thought judged wrong (paper §3.2). Stored by name, so adding a member never renumbers data.
/// </summary>
public enum SearchStrategy
{
    /// <summary>The initial chain of thought of an attempt, before any refinement.</summary>
    Init,
    Backtracking,
    ExploringNewPaths,
    Verification,
    Correction,
}
