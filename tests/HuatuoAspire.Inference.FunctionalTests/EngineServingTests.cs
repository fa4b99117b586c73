using System.Text.Json.Nodes;
using HuatuoAspire.Inference.Serving;
using HuatuoAspire.Model;
using Microsoft.Extensions.Logging.Abstractions;

namespace HuatuoAspire.Inference.FunctionalTests;

/// <summary>The service on the real model engine: a tiny random Llama made by the engine's init API in a temp folder.</summary>
public sealed class EngineServingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "huatuo-engine-serving-" + Guid.NewGuid().ToString("N"));

    private static Dictionary<string, object?> Chat(string user, int maxTokens) => new()
    {
        ["model"] = "tiny",
        ["messages"] = new[] { new { role = "user", content = user } },
        ["temperature"] = 0,
        ["max_tokens"] = maxTokens,
    };

    [Fact]
    public async Task TinyEngineModelServesBatchedGreedyTextIdenticalToSequential()
    {
        var loader = new EngineModelLoader(NullLogger<EngineModelLoader>.Instance);
        var folder = await loader.EnsureDefaultModelAsync(Path.Combine(_dir, "default"), CancellationToken.None);
        Assert.True(File.Exists(Path.Combine(folder, "config.json")));

        await using var server = await InferenceServer.StartAsync(folder, loader, maxBatchSize: 4, contextLength: 256, modelId: "tiny");
        var models = JsonNode.Parse(await server.Http.GetStringAsync("/v1/models"))!;
        Assert.Contains("built-in default", models["data"]![0]!["owned_by"]!.GetValue<string>());

        var prompts = Enumerable.Range(0, 6).Select(i => $"Patient {i} has a fever of {38 + i} degrees.").ToArray();
        var sequential = new List<JsonNode>();
        foreach (var p in prompts) sequential.Add((await server.PostChatAsync(Chat(p, 12))).Body);
        var concurrent = await Task.WhenAll(prompts.Select(async p => (await server.PostChatAsync(Chat(p, 12))).Body));

        for (var i = 0; i < prompts.Length; i++)
        {
            var message = sequential[i]["choices"]![0]!["message"]!;
            Assert.Equal(message.ToJsonString(), concurrent[i]["choices"]![0]!["message"]!.ToJsonString());
            Assert.Equal(sequential[i]["usage"]!.ToJsonString(), concurrent[i]["usage"]!.ToJsonString());
        }
        Assert.True(sequential[0]["usage"]!["prompt_tokens"]!.GetValue<int>() > 20);
    }

    [Fact]
    public async Task TheServiceLoadsItsModelWithInt8WeightsWhenConfiguredAndAnswersInBatches()
    {
        var loader = new EngineModelLoader(NullLogger<EngineModelLoader>.Instance);
        var folder = Path.Combine(_dir, "tiny");
        using (ModelPresets.Create(folder, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed: 4)) { }

        await using var server = await InferenceServer.StartAsync(folder, loader, maxBatchSize: 4, contextLength: 256, modelId: "tiny",
            configuration: new Dictionary<string, string?> { ["Inference:WeightDType"] = "int8" });
        var models = JsonNode.Parse(await server.Http.GetStringAsync("/v1/models"))!;
        Assert.EndsWith("int8 weights", models["data"]![0]!["owned_by"]!.GetValue<string>());

        var prompts = Enumerable.Range(0, 4).Select(i => $"Dose {i} mg/kg for {60 + i} kg?").ToArray();
        var sequential = new List<JsonNode>();
        foreach (var p in prompts) sequential.Add((await server.PostChatAsync(Chat(p, 8))).Body);
        var concurrent = await Task.WhenAll(prompts.Select(async p => (await server.PostChatAsync(Chat(p, 8))).Body));
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(8, sequential[i]["usage"]!["completion_tokens"]!.GetValue<int>());
            Assert.Equal(sequential[i]["choices"]![0]!["message"]!.ToJsonString(), concurrent[i]["choices"]![0]!["message"]!.ToJsonString());
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }
}
