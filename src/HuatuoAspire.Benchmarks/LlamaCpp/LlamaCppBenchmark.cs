using System.Diagnostics;
using System.Text.Json;

namespace HuatuoAspire.Benchmarks.LlamaCpp;

/// <summary>llama.cpp's speed on a GGUF file at batch 1 with a given thread count, as the oracle script measures it.</summary>
public sealed record LlamaCppSpeed(int Threads, int PromptTokens, int DecodeTokens, double PrefillTokensPerSecond, double DecodeTokensPerSecond,
    long PeakResidentBytes = 0);

/// <summary>
/// Runs llama.cpp (node-llama-cpp's prebuilt CPU build, installed in tests/npm by <c>scripts/prerequisites.sh --tests</c>)
/// on the same weights (F32, BF16 or Q8_0 GGUF) and thread count as our engine, so <c>huatuo bench generate --compare-llama-cpp</c> can print both side by side.
/// </summary>
public static class LlamaCppBenchmark
{
    public const string ScriptRelativePath = "tests/npm/llama-oracle.mjs";

    public static async Task<LlamaCppSpeed> MeasureAsync(string ggufPath, int threads, int promptTokens = 16, int decodeTokens = 64,
        string? repositoryRoot = null, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(ggufPath)) throw new FileNotFoundException($"GGUF file '{ggufPath}' does not exist.", ggufPath);
        var script = FindScript(repositoryRoot);
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = Path.GetDirectoryName(script)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { script, "bench", Path.GetFullPath(ggufPath), "--threads", $"{threads}", "--prompt", $"{promptTokens}", "--tokens", $"{decodeTokens}" })
            start.ArgumentList.Add(a);
        Process? started;
        try { started = Process.Start(start); }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException($"could not start node: {e.Message}. {InstallHint}", e); }
        using var process = started ?? throw new InvalidOperationException($"could not start node. {InstallHint}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"llama.cpp benchmark on '{ggufPath}' failed (exit {process.ExitCode}): {(await stderr).Trim()}");
        return JsonSerializer.Deserialize<LlamaCppSpeed>(await stdout, new JsonSerializerOptions(JsonSerializerDefaults.Web))
            ?? throw new InvalidOperationException("llama.cpp benchmark printed no result.");
    }

    /// <summary>
    /// The oracle script with node-llama-cpp installed beside it, looked for above <paramref name="repositoryRoot"/> when
    /// given, else above the working directory and this program.
    /// </summary>
    public static string FindScript(string? repositoryRoot = null)
    {
        var roots = repositoryRoot is not null ? [repositoryRoot] : new[] { Environment.CurrentDirectory, AppContext.BaseDirectory };
        foreach (var root in roots)
        {
            for (var dir = new DirectoryInfo(root); dir is not null; dir = dir.Parent)
            {
                var script = Path.Combine(dir.FullName, ScriptRelativePath);
                if (File.Exists(script) && Directory.Exists(Path.Combine(dir.FullName, "tests", "npm", "node_modules", "node-llama-cpp")))
                    return script;
            }
        }
        throw new FileNotFoundException(
            $"llama.cpp is not available: no {ScriptRelativePath} with node-llama-cpp installed above '{repositoryRoot ?? Environment.CurrentDirectory}'. " +
            InstallHint);
    }

    /// <summary>The one line that says how to get the llama.cpp peer.</summary>
    public const string InstallHint =
        "llama.cpp is not installed: run scripts/prerequisites.sh --tests in the repository (installs node-llama-cpp into tests/npm; needs Node.js).";

    /// <summary>Whether the llama.cpp peer can run here; otherwise <paramref name="reason"/> says how to install it.</summary>
    public static bool IsAvailable(out string reason, string? repositoryRoot = null)
    {
        try
        {
            FindScript(repositoryRoot);
            reason = "";
            return true;
        }
        catch (FileNotFoundException)
        {
            reason = InstallHint;
            return false;
        }
    }
}
