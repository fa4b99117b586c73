using HuatuoAspire.LocalServers;

namespace HuatuoAspire.TestSupport;

/// <summary>The checkout the tests run from (the folder with HuatuoAspire.sln) and the folders tests read in it.</summary>
public static class Checkout
{
    private static readonly Lazy<string> FoundRoot = new(() => RepositoryRoot.TryFind()
        ?? throw new InvalidOperationException($"No HuatuoAspire.sln in any folder above '{AppContext.BaseDirectory}'."));

    public static string Root => FoundRoot.Value;

    /// <summary>A path inside the checkout, e.g. <c>Checkout.Path("tests", "HuatuoAspire.Evaluation.UnitTests", "data")</c>.</summary>
    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>tests/npm: the Node.js reference packages (<c>scripts/prerequisites.sh --tests</c> installs them).</summary>
    public static string NpmFolder => Path("tests", "npm");
}
