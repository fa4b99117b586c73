using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Model.Tests.Gguf;

/// <summary>Runs tests/npm/llama-oracle.mjs (llama.cpp through node-llama-cpp's prebuilt CPU build) and parses its JSON.</summary>
public static class LlamaOracle
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string ScriptPath => Path.Combine(RepositoryRoot, "tests", "npm", "llama-oracle.mjs");

    public static JsonNode Run(params string[] arguments)
    {
        var npm = Path.Combine(RepositoryRoot, "tests", "npm");
        if (!Directory.Exists(Path.Combine(npm, "node_modules", "node-llama-cpp")))
            throw new InvalidOperationException($"node-llama-cpp is not installed in {npm}: run scripts/prerequisites.sh --tests.");
        var start = new ProcessStartInfo("node") { WorkingDirectory = npm, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(ScriptPath);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start node");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"llama-oracle {string.Join(' ', arguments)} exited {process.ExitCode}: {stderr.Result}");
        return JsonNode.Parse(stdout) ?? throw new InvalidOperationException("llama-oracle printed no JSON");
    }

    public static OracleResult[] Greedy(string modelPath, IReadOnlyList<int[]> prompts, int maxNewTokens)
    {
        var request = Path.Combine(Path.GetTempPath(), $"llama-oracle-{Guid.NewGuid():N}.json");
        File.WriteAllText(request, JsonSerializer.Serialize(new { model = modelPath, prompts, maxNewTokens, threads = 1 }));
        try
        {
            var results = Run("greedy", request)["results"]!.AsArray();
            return results.Select(r => new OracleResult(
                r!["promptLogits"]!.AsArray().Select(Row).ToArray(),
                r["ids"]!.AsArray().Select(i => i!.GetValue<int>()).ToArray(),
                r["logits"]!.AsArray().Select(Row).ToArray())).ToArray();
        }
        finally
        {
            File.Delete(request);
        }
    }

    private static double[] Row(JsonNode? row) => row!.AsArray().Select(v => v!.GetValue<double>()).ToArray();

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "HuatuoAspire.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no HuatuoAspire.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>llama.cpp's logits at every prompt position, its greedy continuation, and the logits after each continuation token.</summary>
public sealed record OracleResult(double[][] PromptLogits, int[] Ids, double[][] Logits);
