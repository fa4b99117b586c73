using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using HuatuoAspire.Storage;
using HuatuoAspire.Inference.Contracts;
using HuatuoAspire.Inference.Serving;
using HuatuoAspire.LocalServers;

namespace HuatuoAspire.Inference.FunctionalTests;

/// <summary>Issue 12 item 6: the checkpoint cache lives in the instance's data folder and never keeps a failed download.</summary>
public sealed class CheckpointCacheTests : IAsyncLifetime
{
    private readonly ModelFolders _folders = new();
    private readonly string _root = Path.Combine(Path.GetTempPath(), "huatuo-checkpoint-cache-" + Guid.NewGuid().ToString("N"));
    private AzuriteServer? _azurite;
    private ArtifactStore Store => new(new BlobServiceClient(_azurite!.ConnectionString));

    public async Task InitializeAsync() => _azurite = await AzuriteServer.StartAsync(Path.Combine(_root, "azurite"));

    [Fact]
    public async Task ASwitchedCheckpointIsCachedInTheDataFolderOfTheServedModelNotUnderTheCurrentFolder()
    {
        await Store.UploadFolderAsync(_folders.Create("trained", "Answer from the trained checkpoint."), "runs/sft-1/final");
        var data = Path.Combine(_root, "data");
        await using var server = await InferenceServer.StartAsync(_folders.Create("start"), new HashChainModelLoader(512, TimeSpan.Zero),
            configuration: new Dictionary<string, string?>
            {
                ["ConnectionStrings:blobs"] = _azurite!.ConnectionString,
                // What `huatuo up --data-dir` and `huatuo serve` set; the cache folder is left to its default.
                ["Inference:DefaultModelDir"] = Path.Combine(data, "models", "default"),
            });

        using var switched = await server.Http.PostAsJsonAsync("/admin/inference/model", new { blob_prefix = "runs/sft-1/final" });
        Assert.Equal(200, (int)switched.StatusCode);
        var source = JsonNode.Parse(await switched.Content.ReadAsStringAsync())!["source"]!.GetValue<string>();
        Assert.Equal(Path.Combine(data, "models", "checkpoints", "runs_sft-1_final"), source);
        Assert.True(File.Exists(Path.Combine(source, "tokenizer.json")));
    }

    [Fact]
    public async Task ACorruptCheckpointLeavesNoPartialFolderAndKeepsTheCompleteCopyAlreadyCached()
    {
        var store = Store;
        var model = _folders.Create("trained", "Answer from the trained checkpoint.");
        await store.UploadFolderAsync(model, "runs/sft-2/final");
        var cache = Path.Combine(_root, "cache");
        var folder = await CheckpointDownloader.DownloadAsync(store, cache, "runs/sft-2/final", CancellationToken.None);
        var cached = await File.ReadAllTextAsync(Path.Combine(folder, "tokenizer.json"));

        // The blob's bytes change under its recorded SHA-256 (a torn or tampered upload).
        await TamperAsync(store, "runs/sft-2/final/tokenizer.json");
        var error = await Assert.ThrowsAsync<InferenceRequestException>(() =>
            CheckpointDownloader.DownloadAsync(store, cache, "runs/sft-2/final", CancellationToken.None));
        Assert.Equal("blob_prefix", error.Param);
        Assert.Contains("is corrupt", error.Message);
        Assert.Equal([folder], Directory.GetDirectories(cache));
        Assert.Equal(cached, await File.ReadAllTextAsync(Path.Combine(folder, "tokenizer.json")));

        // A prefix never downloaded before leaves nothing at all.
        await store.UploadFolderAsync(model, "runs/sft-3/final");
        await TamperAsync(store, "runs/sft-3/final/tokenizer.json");
        await Assert.ThrowsAsync<InferenceRequestException>(() =>
            CheckpointDownloader.DownloadAsync(store, cache, "runs/sft-3/final", CancellationToken.None));
        Assert.Equal([folder], Directory.GetDirectories(cache));
    }

    [Fact]
    public async Task LeftoversOfADownloadKilledMidwayAreSweptByTheNextDownload()
    {
        var store = Store;
        await store.UploadFolderAsync(_folders.Create("trained"), "runs/sft-4/final");
        var cache = Path.Combine(_root, "cache-killed");
        var leftover = Path.Combine(cache, "runs_sft-4_final.partial-0123456789abcdef");
        Directory.CreateDirectory(leftover);
        await File.WriteAllTextAsync(Path.Combine(leftover, "model.safetensors"), "half a file");

        var folder = await CheckpointDownloader.DownloadAsync(store, cache, "runs/sft-4/final", CancellationToken.None);
        Assert.Equal([folder], Directory.GetDirectories(cache));
    }

    private static async Task TamperAsync(ArtifactStore store, string blobName)
    {
        var blob = store.Container.GetBlobClient(blobName);
        var metadata = (await blob.GetPropertiesAsync()).Value.Metadata;
        await blob.UploadAsync(BinaryData.FromString("{\"tampered\": true}"), new BlobUploadOptions { Metadata = metadata });
    }

    public async Task DisposeAsync()
    {
        if (_azurite is not null) await _azurite.DisposeAsync();
        _folders.Dispose();
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }
}
