using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using HuatuoAspire.Storage;
using HuatuoAspire.LocalServers;

namespace HuatuoAspire.Inference.FunctionalTests;

/// <summary>Switching to a checkpoint the trainer left in blob storage: real Azurite on loopback.</summary>
public sealed class BlobCheckpointSwitchTests : IDisposable
{
    private readonly ModelFolders _folders = new();
    private readonly string _root = Path.Combine(Path.GetTempPath(), "huatuo-inference-blobs-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task AdminSwitchesToACheckpointByBlobPrefix()
    {
        await using var azurite = await AzuriteServer.StartAsync(Path.Combine(_root, "azurite"));
        var store = new ArtifactStore(new BlobServiceClient(azurite.ConnectionString));
        await store.UploadFolderAsync(_folders.Create("trained", "Answer from the trained checkpoint."), "runs/sft-1/step-40");

        var cache = Path.Combine(_root, "cache");
        await using var server = await InferenceServer.StartAsync(_folders.Create("start"), new HashChainModelLoader(512, TimeSpan.Zero),
            configuration: new Dictionary<string, string?>
            {
                ["ConnectionStrings:blobs"] = azurite.ConnectionString,
                ["Inference:CheckpointCacheDir"] = cache,
            });

        using var switched = await server.Http.PostAsJsonAsync("/admin/inference/model", new { blob_prefix = "runs/sft-1/step-40", model_id = "sft-1" });
        Assert.Equal(200, (int)switched.StatusCode);
        var body = JsonNode.Parse(await switched.Content.ReadAsStringAsync())!;
        Assert.StartsWith(cache, body["source"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(body["source"]!.GetValue<string>(), "tokenizer.json")));

        var (status, reply) = await server.PostChatAsync(new
        {
            model = "sft-1", messages = new[] { new { role = "user", content = "q" } }, max_tokens = 50, temperature = 0,
        });
        Assert.Equal(200, status);
        Assert.Equal("Answer from the trained checkpoint.", reply["choices"]![0]!["message"]!["content"]!.GetValue<string>());

        using var missing = await server.Http.PostAsJsonAsync("/admin/inference/model", new { blob_prefix = "runs/none" });
        Assert.Equal(400, (int)missing.StatusCode);
        var error = JsonNode.Parse(await missing.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("blob_prefix", error["param"]!.GetValue<string>());
        Assert.Contains("runs/none", error["message"]!.GetValue<string>());
    }

    public void Dispose()
    {
        _folders.Dispose();
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }
}
