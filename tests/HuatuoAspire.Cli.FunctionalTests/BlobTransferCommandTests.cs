using System.Security.Cryptography;
using Azure.Storage.Blobs;
using HuatuoAspire.Cli.Commands;
using HuatuoAspire.Storage;
using HuatuoAspire.LocalServers;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>
/// `huatuo upload model|data` and `huatuo download model` against a real Azurite: what they store carries the SHA-256
/// the trainer and the inference service verify, bad input is one line and exit code 2 with nothing written.
/// </summary>
[Collection(CommandLineCollection.Name)]
public sealed class BlobTransferCommandTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("huatuo-blob-commands-").FullName;
    private AzuriteServer _azurite = null!;
    private ArtifactStore _store = null!;

    public async Task InitializeAsync()
    {
        _azurite = await AzuriteServer.StartAsync(Path.Combine(_folder, "azurite"));
        _store = new ArtifactStore(new BlobServiceClient(_azurite.ConnectionString));
    }

    public async Task DisposeAsync()
    {
        await _azurite.DisposeAsync();
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task UploadingAModelFolderStoresEveryFileUnderThePrefixWithTheSha256OfItsBytes()
    {
        var model = WriteModelFolder("base", shards: 2);
        var (code, output) = await Run("upload", "model", "--from", model, "--to", "blob:models/base");
        Assert.True(code == 0, output);
        Assert.Contains("blob:models/base", output);

        var stored = await List("models/base/");
        var local = Directory.EnumerateFiles(model, "*", SearchOption.AllDirectories)
            .ToDictionary(f => "models/base/" + Path.GetRelativePath(model, f).Replace('\\', '/'), Sha256);
        Assert.Equal(local.OrderBy(p => p.Key), stored.Select(b => KeyValuePair.Create(b.Name, b.Sha256)).OrderBy(p => p.Key));
        // What the trainer does with blob:models/base: download and verify every blob.
        await _store.DownloadFolderAsync("models/base", Path.Combine(_folder, "fetched"));
    }

    [Fact]
    public async Task AnUploadOntoAnOccupiedPrefixIsRefusedUnlessOverwriteAndOverwriteRemovesStaleShards()
    {
        var first = WriteModelFolder("first", shards: 3);
        Assert.Equal(0, (await Run("upload", "model", "--from", first, "--to", "blob:models/m")).ExitCode);
        var before = await List("models/m/");

        var second = WriteModelFolder("second", shards: 1);
        var (refused, message) = await Run("upload", "model", "--from", second, "--to", "blob:models/m");
        Assert.Equal(2, refused);
        Assert.Contains("already holds 5 blob(s)", message);
        Assert.Contains("--overwrite", message);
        Assert.Equal(before, await List("models/m/"));

        var (code, output) = await Run("upload", "model", "--from", second, "--to", "blob:models/m", "--overwrite");
        Assert.True(code == 0, output);
        var after = await List("models/m/");
        Assert.Equal(["models/m/config.json", "models/m/model-00001.safetensors", "models/m/tokenizer.json"], after.Select(b => b.Name).Order());
        Assert.Equal(Sha256(Path.Combine(second, "model-00001.safetensors")), after.Single(b => b.Name.EndsWith(".safetensors")).Sha256);
    }

    [Theory]
    [InlineData("models/x", "is not a blob reference")]
    [InlineData("blob:", "names no blob")]
    [InlineData("blob:models/../x", "'..' segment")]
    public async Task ABadBlobReferenceIsOneLineAndNothingIsUploaded(string target, string expected)
    {
        var model = WriteModelFolder("bad-ref", shards: 1);
        var (code, output) = await Run("upload", "model", "--from", model, "--to", target);
        Assert.Equal(2, code);
        Assert.Contains(expected, output);
        Assert.Empty(await List(null));
    }

    [Fact]
    public async Task AFolderThatIsNotAHuggingFaceModelIsRefused()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_folder, "not-a-model")).FullName;
        File.WriteAllText(Path.Combine(folder, "weights.bin"), "x");
        var (code, output) = await Run("upload", "model", "--from", folder, "--to", "blob:models/x");
        Assert.Equal(2, code);
        Assert.Contains("has no config.json", output);
        Assert.Empty(await List(null));
    }

    [Fact]
    public async Task UploadingADataFileMakesOneVerifiedBlobAndRefusesToReplaceIt()
    {
        var data = Path.Combine(_folder, "sft.jsonl");
        await File.WriteAllTextAsync(data, "{\"Question\":\"q\",\"Complex_CoT\":\"c\",\"Response\":\"r\"}\n");
        var (code, output) = await Run("upload", "data", "--from", data, "--to", "blob:data/sft.jsonl", "--kind", "sft");
        Assert.True(code == 0, output);
        var copy = Path.Combine(_folder, "copy.jsonl");
        var stored = await _store.DownloadFileAsync("data/sft.jsonl", copy);
        Assert.Equal(Sha256(data), stored.Sha256);
        Assert.Equal(await File.ReadAllTextAsync(data), await File.ReadAllTextAsync(copy));

        Assert.Equal(2, (await Run("upload", "data", "--from", data, "--to", "blob:data/sft.jsonl", "--kind", "sft")).ExitCode);
        var (missing, message) = await Run("upload", "data", "--from", Path.Combine(_folder, "absent.jsonl"), "--to", "blob:data/absent.jsonl", "--kind", "sft");
        Assert.Equal(2, missing);
        Assert.Contains("does not exist", message);
    }

    [Fact]
    public async Task ADataFileTheTrainerCouldNotReadIsRefusedBeforeUpload()
    {
        var data = Path.Combine(_folder, "ppo.jsonl");
        await File.WriteAllTextAsync(data, "{\"Open-ended Verifiable Question\":\"q\",\"Ground-True Answer\":\"a\"}\n{\"Question\":\"q2\"}\n");
        var (code, output) = await Run("upload", "data", "--from", data, "--to", "blob:data/ppo.jsonl", "--kind", "ppo");
        Assert.Equal(2, code);
        Assert.Contains("Ground-True Answer", output);
        // The same file is not SFT data either.
        Assert.Equal(2, (await Run("upload", "data", "--from", data, "--to", "blob:data/ppo.jsonl", "--kind", "sft")).ExitCode);
        Assert.Empty(await List(null));

        await File.WriteAllTextAsync(data, "{\"Open-ended Verifiable Question\":\"q\",\"Ground-True Answer\":\"a\"}\n");
        Assert.Equal(0, (await Run("upload", "data", "--from", data, "--to", "blob:data/ppo.jsonl", "--kind", "ppo")).ExitCode);
    }

    [Fact]
    public async Task DownloadFillsTheFolderOnceAndKeepsItWhenTheBlobsAreTheSame()
    {
        var model = WriteModelFolder("served", shards: 2);
        Assert.Equal(0, (await Run("upload", "model", "--from", model, "--to", "blob:models/served")).ExitCode);
        var target = Path.Combine(_folder, "share", "served");

        var (code, output) = await Run("download", "model", "--from", "blob:models/served", "--to", target);
        Assert.True(code == 0, output);
        foreach (var file in Directory.EnumerateFiles(model))
            Assert.Equal(Sha256(file), Sha256(Path.Combine(target, Path.GetFileName(file))));
        Assert.True(File.Exists(Path.Combine(target, DownloadCommands.ManifestFileName)));

        var (again, kept) = await Run("download", "model", "--from", "blob:models/served", "--to", target);
        Assert.Equal(0, again);
        Assert.Contains("kept", kept);

        // A new upload under the prefix is fetched again.
        var changed = WriteModelFolder("served-2", shards: 2);
        Assert.Equal(0, (await Run("upload", "model", "--from", changed, "--to", "blob:models/served", "--overwrite")).ExitCode);
        Assert.Equal(0, (await Run("download", "model", "--from", "blob:models/served", "--to", target)).ExitCode);
        Assert.Equal(Sha256(Path.Combine(changed, "model-00001.safetensors")), Sha256(Path.Combine(target, "model-00001.safetensors")));
        Assert.Single(Directory.EnumerateDirectories(Path.Combine(_folder, "share")));
    }

    [Fact]
    public async Task ACorruptBlobFailsTheDownloadAndLeavesNoFolder()
    {
        var model = WriteModelFolder("corrupt", shards: 1);
        Assert.Equal(0, (await Run("upload", "model", "--from", model, "--to", "blob:models/corrupt")).ExitCode);
        // Overwrite one blob's bytes behind the store's back: its recorded SHA-256 no longer matches.
        var blob = _store.Container.GetBlobClient("models/corrupt/model-00001.safetensors");
        var metadata = (await blob.GetPropertiesAsync()).Value.Metadata;
        await blob.UploadAsync(BinaryData.FromBytes(new byte[64]), overwrite: true);
        await blob.SetMetadataAsync(metadata);

        var target = Path.Combine(_folder, "share", "corrupt");
        var (code, output) = await Run("download", "model", "--from", "blob:models/corrupt", "--to", target);
        Assert.Equal(2, code);
        Assert.Contains("corrupt", output);
        Assert.False(Directory.Exists(target));
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(_folder, "share")));
    }

    [Fact]
    public async Task DownloadingAnEmptyPrefixOrWithoutBlobStorageIsOneLine()
    {
        var (code, output) = await Run("download", "model", "--from", "blob:models/none", "--to", Path.Combine(_folder, "none"));
        Assert.Equal(2, code);
        Assert.Contains("No blobs under blob:models/none", output);

        var (unconfigured, message) = await CapturedCommandLine.RunAsync("download", "model", "--from", "blob:models/none", "--to", Path.Combine(_folder, "none"));
        Assert.Equal(2, unconfigured);
        Assert.Contains("No blob storage configured", message);
    }

    private Task<(int ExitCode, string Output)> Run(params string[] args) =>
        CapturedCommandLine.RunAsync([.. args, "--blobs", _azurite.ConnectionString]);

    private async Task<List<StoredBlob>> List(string? prefix)
    {
        var blobs = new List<StoredBlob>();
        await foreach (var blob in _store.ListAsync(prefix)) blobs.Add(blob);
        return blobs.OrderBy(b => b.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>A model folder's shape (config, sharded weights, tokenizer) with random bytes: the commands move files, they do not load them.</summary>
    private string WriteModelFolder(string name, int shards)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_folder, name)).FullName;
        File.WriteAllText(Path.Combine(folder, "config.json"), $"{{\"model_type\":\"llama\",\"name\":\"{name}\"}}");
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), "{}");
        for (var i = 1; i <= shards; i++)
            File.WriteAllBytes(Path.Combine(folder, $"model-{i:00000}.safetensors"), RandomNumberGenerator.GetBytes(100_000 + i));
        return folder;
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
