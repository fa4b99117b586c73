using System.Security.Cryptography;
using Azure.Storage.Blobs.Models;
using System.Diagnostics;
using HuatuoAspire.Storage;
using Xunit.Abstractions;

namespace HuatuoAspire.Data.FunctionalTests;

[Collection(InfrastructureCollection.Name)]
public sealed class ArtifactStoreTests(InfrastructureFixture infra, ITestOutputHelper output)
{
    /// <summary>Deterministic pseudo-random bytes of a given length, produced on the fly (never held whole).</summary>
    private sealed class GeneratedStream(long length, int seed) : Stream
    {
        private readonly Random _random = new(seed);
        private long _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            _random.NextBytes(buffer.AsSpan(offset, n));
            _position += n;
            return n;
        }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Hashes what is written to it and keeps only the count: verifies a download without holding it.</summary>
    private sealed class HashingSink : Stream
    {
        private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public long Written { get; private set; }
        public string Sha256 => Convert.ToHexStringLower(_sha.GetCurrentHash());
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Written;
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Write(byte[] buffer, int offset, int count) { _sha.AppendData(buffer, offset, count); Written += count; }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) _sha.Dispose(); base.Dispose(disposing); }
    }

    private static string ExpectedSha256(long length, int seed)
    {
        using var stream = new GeneratedStream(length, seed);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    [Fact]
    public async Task ACheckpointSizedBlobIsWrittenAndReadBackWithItsHash()
    {
        const long size = 50L * 1024 * 1024 + 12345; // ≥ 50 MB, not a whole number of blocks
        var store = new ArtifactStore(infra.BlobService);
        var expected = ExpectedSha256(size, seed: 7);

        var clock = Stopwatch.StartNew();
        var stored = await store.UploadAsync("checkpoints/test-run/step-100/model.safetensors", new GeneratedStream(size, seed: 7));
        var uploadSeconds = clock.Elapsed.TotalSeconds;
        Assert.Equal(size, stored.SizeBytes);
        Assert.Equal(expected, stored.Sha256);

        var properties = await store.Container.GetBlobClient(stored.Name).GetPropertiesAsync();
        Assert.Equal(expected, properties.Value.Metadata[ArtifactStore.Sha256MetadataKey]);
        Assert.Equal(size, properties.Value.ContentLength);

        using var sink = new HashingSink();
        clock.Restart();
        var downloaded = await store.DownloadToAsync(stored.Name, sink);
        var downloadSeconds = clock.Elapsed.TotalSeconds;
        // A figure, not a goal: Azurite on loopback, hashing included.
        output.WriteLine($"{size / 1048576.0:F1} MiB: upload {size / 1048576.0 / uploadSeconds:F0} MiB/s, verified download {size / 1048576.0 / downloadSeconds:F0} MiB/s");
        Assert.Equal(size, sink.Written);
        Assert.Equal(expected, sink.Sha256);
        Assert.Equal(expected, downloaded.Sha256);
    }

    [Fact]
    public async Task ADownloadWhoseBytesDoNotMatchTheRecordedHashFails()
    {
        var store = new ArtifactStore(infra.BlobService, blockSizeBytes: 64 * 1024);
        var stored = await store.UploadAsync("corrupt/file.bin", new GeneratedStream(200_000, seed: 1));
        // Someone rewrites the bytes behind the store's back, keeping the old hash.
        var blob = store.Container.GetBlobClient(stored.Name);
        await blob.UploadAsync(new GeneratedStream(200_000, seed: 2), new BlobUploadOptions { Metadata = new Dictionary<string, string> { ["sha256"] = stored.Sha256 } });

        var error = await Assert.ThrowsAsync<BlobHashMismatchException>(() => store.DownloadToAsync(stored.Name, Stream.Null));
        Assert.Contains(stored.Sha256, error.Message);

        var target = Path.Combine(infra.NewFolder("corrupt"), "file.bin");
        await Assert.ThrowsAsync<BlobHashMismatchException>(() => store.DownloadFileAsync(stored.Name, target));
        Assert.False(File.Exists(target));
        Assert.False(File.Exists(target + ".partial"));
    }

    [Fact]
    public async Task AModelFolderIsUploadedListedDownloadedAndDeletedUnderAPrefix()
    {
        var store = new ArtifactStore(infra.BlobService, blockSizeBytes: 64 * 1024);
        var folder = infra.NewFolder("model");
        File.WriteAllText(Path.Combine(folder, "config.json"), """{"model_type": "qwen2", "hidden_size": 64}""");
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), """{"version": "1.0"}""");
        Directory.CreateDirectory(Path.Combine(folder, "extra"));
        var weights = new byte[300_000];
        new Random(3).NextBytes(weights);
        File.WriteAllBytes(Path.Combine(folder, "extra", "model.safetensors"), weights);
        File.WriteAllBytes(Path.Combine(folder, "empty.txt"), []);

        var uploaded = await store.UploadFolderAsync(folder, "/models/sft-demo/");
        Assert.Equal(["models/sft-demo/config.json", "models/sft-demo/empty.txt", "models/sft-demo/extra/model.safetensors", "models/sft-demo/tokenizer.json"],
            uploaded.Select(u => u.Name).Order(StringComparer.Ordinal));

        var listed = new List<StoredBlob>();
        await foreach (var item in store.ListAsync("models/sft-demo/")) listed.Add(item);
        Assert.Equal(uploaded.OrderBy(u => u.Name, StringComparer.Ordinal), listed.OrderBy(l => l.Name, StringComparer.Ordinal));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(weights)), listed.Single(l => l.Name.EndsWith("model.safetensors")).Sha256);

        var copy = infra.NewFolder("model-copy");
        await store.DownloadFolderAsync("models/sft-demo", copy);
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(copy, "extra", "model.safetensors")));
        Assert.Equal(File.ReadAllText(Path.Combine(folder, "config.json")), File.ReadAllText(Path.Combine(copy, "config.json")));
        Assert.Empty(File.ReadAllBytes(Path.Combine(copy, "empty.txt")));

        Assert.Equal(4, await store.DeleteFolderAsync("models/sft-demo"));
        await Assert.ThrowsAsync<FileNotFoundException>(() => store.DownloadFolderAsync("models/sft-demo", infra.NewFolder("gone")));
        Assert.False(await store.DeleteAsync("models/sft-demo/config.json"));
    }

    [Fact]
    public async Task DownloadingAMissingBlobSaysWhichOne()
    {
        var store = new ArtifactStore(infra.BlobService);
        var error = await Assert.ThrowsAsync<FileNotFoundException>(() => store.DownloadToAsync("nope/missing.bin", Stream.Null));
        Assert.Contains("nope/missing.bin", error.Message);
    }

    /// <summary>A source that fails part-way, like a trainer killed while writing a checkpoint.</summary>
    private sealed class FailingStream(long failAfter) : Stream
    {
        private long _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= failAfter) throw new IOException("source failed");
            var n = (int)Math.Min(count, failAfter - _position + 1);
            buffer.AsSpan(offset, n).Fill(42);
            _position += n;
            return n;
        }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task AnUploadWhoseSourceFailsLeavesNoBlobBehind()
    {
        var store = new ArtifactStore(infra.BlobService, blockSizeBytes: 64 * 1024, concurrency: 2);
        await Assert.ThrowsAsync<IOException>(() => store.UploadAsync("partial/model.safetensors", new FailingStream(1_000_000)));
        Assert.False((await store.Container.GetBlobClient("partial/model.safetensors").ExistsAsync()).Value);

        // An existing blob of the same name is kept whole when a replacement upload fails.
        var first = await store.UploadAsync("partial/kept.bin", new GeneratedStream(300_000, seed: 5));
        await Assert.ThrowsAsync<IOException>(() => store.UploadAsync("partial/kept.bin", new FailingStream(500_000)));
        var again = await store.DownloadToAsync("partial/kept.bin", Stream.Null);
        Assert.Equal(first, again);
    }
}
