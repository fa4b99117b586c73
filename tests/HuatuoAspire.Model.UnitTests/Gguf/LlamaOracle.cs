using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Model.UnitTests.Gguf;

/// <summary>Runs tests/npm/llama-oracle.mjs (llama.cpp through node-llama-cpp's prebuilt CPU build) and parses its JSON.</summary>
public static class LlamaOracle
{
    public static JsonNode Run(params string[] arguments)
    {
        NodeScript.RequirePackage("node-llama-cpp");
        // llama.cpp loads and runs a model per call: far longer than a tokenizer oracle on this 2-core machine.
        var stdout = NodeScript.Run("llama-oracle.mjs", arguments, timeout: TimeSpan.FromMinutes(10));
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
}

/// <summary>llama.cpp's logits at every prompt position, its greedy continuation, and the logits after each continuation token.</summary>
public sealed record OracleResult(double[][] PromptLogits, int[] Ids, double[][] Logits);
