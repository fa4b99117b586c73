using System.Text.Json;
using HuatuoAspire.Model;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>What the training-service tests train: a tiny llama made here and a few addition problems in SFT format.</summary>
internal static class TinySftRun
{
    /// <summary>Writes <c>model/</c> and <c>sft.jsonl</c> (<paramref name="examples"/> records) under <paramref name="dir"/>.</summary>
    public static async Task<(string Model, string Data)> WriteAsync(string dir, int examples, int seed)
    {
        var model = Path.Combine(dir, "model");
        using (ModelPresets.Create(model, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed)) { }
        var data = Path.Combine(dir, "sft.jsonl");
        await File.WriteAllLinesAsync(data, Enumerable.Range(1, examples).Select(i => JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["Question"] = $"What is {i} + {i}?",
            ["Complex_CoT"] = $"Adding {i} to itself gives {2 * i}.",
            ["Response"] = $"{2 * i}",
        })));
        return (model, data);
    }
}
