using System.Diagnostics;

namespace HuatuoAspire.TestSupport;

/// <summary>
/// Runs Node.js in tests/npm, where the reference packages (openai, the Hugging Face tokenizers, node-llama-cpp) are
/// installed, and returns what it printed; a non-zero exit fails with its stderr.
/// </summary>
public static class NodeScript
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Runs a script file (relative to tests/npm, or absolute) with arguments.</summary>
    public static Task<string> RunAsync(string script, IEnumerable<string> arguments, string? stdin = null,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null) =>
        RunNodeAsync([System.IO.Path.Combine(Checkout.NpmFolder, script), .. arguments], stdin, environment, timeout);

    /// <summary>The blocking form, for oracles called from synchronous test code.</summary>
    public static string Run(string script, IEnumerable<string> arguments, string? stdin = null, TimeSpan? timeout = null) =>
        RunAsync(script, arguments, stdin, null, timeout).GetAwaiter().GetResult();

    /// <summary>Evaluates an ES module given as text; bare imports ('openai') resolve from tests/npm/node_modules.</summary>
    public static Task<string> EvaluateModuleAsync(string module, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null) =>
        RunNodeAsync(["--input-type=module", "--eval", module], null, environment, timeout);

    /// <summary>Fails with the command that installs it when an npm package is missing from tests/npm.</summary>
    public static void RequirePackage(string package)
    {
        var folder = System.IO.Path.Combine(Checkout.NpmFolder, "node_modules", package);
        if (!Directory.Exists(folder))
            throw new InvalidOperationException($"the {package} npm package is missing in {Checkout.NpmFolder}/node_modules: run scripts/prerequisites.sh --tests");
    }

    private static async Task<string> RunNodeAsync(string[] arguments, string? stdin, IReadOnlyDictionary<string, string>? environment, TimeSpan? timeout)
    {
        var start = new ProcessStartInfo("node") { WorkingDirectory = Checkout.NpmFolder };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        var outcome = await ChildProcess.RunAsync(start, timeout ?? DefaultTimeout, stdin);
        var what = arguments[0] == "--input-type=module" ? "node --eval" : $"node {System.IO.Path.GetFileName(arguments[0])}";
        if (outcome.ExitCode != 0) throw new InvalidOperationException($"{what} exited {outcome.ExitCode}: {outcome.Stderr.Trim()}");
        return outcome.Stdout;
    }
}
