using System.Buffers;
using System.Security.Cryptography;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace HuatuoAspire.Storage;

/// <summary>What the store knows about one blob: its name, size, and the SHA-256 recorded when it was uploaded.</summary>
public sealed record StoredBlob(string Name, long SizeBytes, string Sha256);

public sealed class BlobHashMismatchException(string blobName, string expected, string actual)
    : IOException($"Blob '{blobName}' is corrupt: its recorded SHA-256 is {expected} but the downloaded bytes hash to {actual}.")
{
    public string BlobName { get; } = blobName;
}

/// <summary>
/// Checkpoints and other large artifacts in blob storage (container "huatuo"). Uploads are streamed in blocks
/// (a few staged in parallel, never the whole stream in memory) and hashed while streaming; the SHA-256 is committed with the block list as
/// blob metadata, so a blob is either absent or complete with its hash. Downloads are streamed and verified.
/// </summary>
public sealed class ArtifactStore
{
    public const string ContainerName = "huatuo";
    public const string Sha256MetadataKey = "sha256";

    private readonly BlobContainerClient _container;
    private readonly int _blockSize;
    private readonly int _concurrency;
    private int _containerReady;

    /// <param name="blockSizeBytes">Size of each staged block (default 8 MiB).</param>
    /// <param name="concurrency">Blocks uploaded at once; an upload holds at most this many blocks in memory.</param>
    public ArtifactStore(BlobServiceClient service, int blockSizeBytes = 8 * 1024 * 1024, int concurrency = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSizeBytes, 64 * 1024);
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        _container = service.GetBlobContainerClient(ContainerName);
        _blockSize = blockSizeBytes;
        _concurrency = concurrency;
    }

    public BlobContainerClient Container => _container;

    private async Task EnsureContainerAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _containerReady) == 1) return;
        await _container.CreateIfNotExistsAsync(cancellationToken: ct);
        Volatile.Write(ref _containerReady, 1);
    }

    /// <summary>Uploads <paramref name="content"/> to <paramref name="blobName"/> (replacing it), returning size and SHA-256.</summary>
    public async Task<StoredBlob> UploadAsync(string blobName, Stream content, CancellationToken ct = default)
    {
        ValidateName(blobName);
        await EnsureContainerAsync(ct);
        var blob = _container.GetBlockBlobClient(blobName);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var blockIds = new List<string>();
        var inFlight = new List<(Task Upload, byte[] Buffer)>();
        long total = 0;
        try
        {
            while (true)
            {
                // At most _concurrency blocks are held in memory: wait for the oldest before reading another.
                if (inFlight.Count == _concurrency)
                {
                    await inFlight[0].Upload;
                    ArrayPool<byte>.Shared.Return(inFlight[0].Buffer);
                    inFlight.RemoveAt(0);
                }
                var buffer = ArrayPool<byte>.Shared.Rent(_blockSize);
                var filled = await FillAsync(content, buffer, _blockSize, ct);
                if (filled == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }
                sha.AppendData(buffer, 0, filled); // in stream order, whatever order the blocks upload in
                // Block ids must all have the same length within a blob.
                var blockId = Convert.ToBase64String(BitConverter.GetBytes((long)blockIds.Count));
                blockIds.Add(blockId);
                inFlight.Add((StageAsync(blob, blockId, buffer, filled, ct), buffer));
                total += filled;
                if (filled < _blockSize) break;
            }
            await Task.WhenAll(inFlight.Select(f => f.Upload));
        }
        finally
        {
            // Buffers go back to the pool only once no upload can still be reading them.
            try { await Task.WhenAll(inFlight.Select(f => f.Upload)); } catch { /* the first failure is already propagating */ }
            foreach (var (_, buffer) in inFlight) ArrayPool<byte>.Shared.Return(buffer);
        }

        var hash = Convert.ToHexStringLower(sha.GetHashAndReset());
        await blob.CommitBlockListAsync(blockIds, new CommitBlockListOptions
        {
            Metadata = new Dictionary<string, string> { [Sha256MetadataKey] = hash },
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/octet-stream" },
        }, ct);
        return new StoredBlob(blobName, total, hash);
    }

    /// <summary>Uploads a local file.</summary>
    public async Task<StoredBlob> UploadFileAsync(string blobName, string path, CancellationToken ct = default)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return await UploadAsync(blobName, file, ct);
    }

    /// <summary>
    /// Streams the blob into <paramref name="destination"/>, hashing as it goes; throws
    /// <see cref="BlobHashMismatchException"/> when the bytes do not match the recorded SHA-256.
    /// </summary>
    public async Task<StoredBlob> DownloadToAsync(string blobName, Stream destination, CancellationToken ct = default)
    {
        ValidateName(blobName);
        var blob = _container.GetBlobClient(blobName);
        BlobDownloadStreamingResult download;
        try
        {
            download = (await blob.DownloadStreamingAsync(cancellationToken: ct)).Value;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            throw new FileNotFoundException($"Blob '{blobName}' does not exist in container '{ContainerName}'.", blobName, ex);
        }

        using (download)
        {
            download.Details.Metadata.TryGetValue(Sha256MetadataKey, out var expected);
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
            long total = 0;
            try
            {
                int read;
                while ((read = await download.Content.ReadAsync(buffer.AsMemory(0, 1 << 20), ct)) > 0)
                {
                    sha.AppendData(buffer, 0, read);
                    await destination.WriteAsync(buffer.AsMemory(0, read), ct);
                    total += read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            var actual = Convert.ToHexStringLower(sha.GetHashAndReset());
            if (expected is null)
                throw new InvalidDataException($"Blob '{blobName}' has no '{Sha256MetadataKey}' metadata: it was not written by {nameof(ArtifactStore)}, so it cannot be verified.");
            if (!string.Equals(expected, actual, StringComparison.OrdinalIgnoreCase))
                throw new BlobHashMismatchException(blobName, expected, actual);
            return new StoredBlob(blobName, total, actual);
        }
    }

    /// <summary>Downloads to a local file, written beside the target and moved into place only once verified.</summary>
    public async Task<StoredBlob> DownloadFileAsync(string blobName, string path, CancellationToken ct = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var partial = path + ".partial";
        try
        {
            StoredBlob stored;
            await using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                stored = await DownloadToAsync(blobName, file, ct);
            }
            File.Move(partial, path, overwrite: true);
            return stored;
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }

    /// <summary>
    /// Uploads every file under <paramref name="folder"/> (a Hugging Face model folder: config.json, *.safetensors,
    /// tokenizer files) as blobs named "{prefix}/{relative path}".
    /// </summary>
    public async Task<IReadOnlyList<StoredBlob>> UploadFolderAsync(string folder, string prefix, CancellationToken ct = default)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Folder to upload does not exist: {folder}");
        prefix = NormalizePrefix(prefix);
        var uploaded = new List<StoredBlob>();
        foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = Path.GetRelativePath(folder, file).Replace(Path.DirectorySeparatorChar, '/');
            uploaded.Add(await UploadFileAsync(prefix + relative, file, ct));
        }
        return uploaded;
    }

    /// <summary>Downloads every blob under <paramref name="prefix"/> into <paramref name="folder"/>, verifying each hash.</summary>
    public async Task<IReadOnlyList<StoredBlob>> DownloadFolderAsync(string prefix, string folder, CancellationToken ct = default)
    {
        prefix = NormalizePrefix(prefix);
        var root = Path.GetFullPath(folder);
        var downloaded = new List<StoredBlob>();
        await foreach (var item in ListAsync(prefix, ct))
        {
            var relative = item.Name[prefix.Length..];
            var target = Path.GetFullPath(Path.Combine(root, relative));
            // A blob named "../x" must not write outside the target folder.
            if (!target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new InvalidDataException($"Blob '{item.Name}' would be written outside '{root}'.");
            downloaded.Add(await DownloadFileAsync(item.Name, target, ct));
        }
        if (downloaded.Count == 0) throw new FileNotFoundException($"No blobs under prefix '{prefix}' in container '{ContainerName}'.");
        return downloaded;
    }

    /// <summary>Lists blobs whose names start with <paramref name="prefix"/>, with their recorded hashes.</summary>
    public async IAsyncEnumerable<StoredBlob> ListAsync(string? prefix = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        await EnsureContainerAsync(ct);
        await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Traits = BlobTraits.Metadata, Prefix = prefix }, ct))
        {
            item.Metadata.TryGetValue(Sha256MetadataKey, out var hash);
            yield return new StoredBlob(item.Name, item.Properties.ContentLength ?? 0, hash ?? "");
        }
    }

    /// <summary>Deletes one blob; returns false when it did not exist.</summary>
    public async Task<bool> DeleteAsync(string blobName, CancellationToken ct = default)
    {
        ValidateName(blobName);
        var response = await _container.DeleteBlobIfExistsAsync(blobName, DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: ct);
        return response.Value;
    }

    /// <summary>Deletes every blob under a prefix (a folder checkpoint); returns how many were deleted.</summary>
    public async Task<int> DeleteFolderAsync(string prefix, CancellationToken ct = default)
    {
        prefix = NormalizePrefix(prefix);
        var names = new List<string>();
        await foreach (var item in ListAsync(prefix, ct)) names.Add(item.Name);
        var deleted = 0;
        foreach (var name in names)
            if (await DeleteAsync(name, ct)) deleted++;
        return deleted;
    }

    private static async Task StageAsync(BlockBlobClient blob, string blockId, byte[] buffer, int count, CancellationToken ct)
    {
        using var block = new MemoryStream(buffer, 0, count, writable: false);
        await blob.StageBlockAsync(blockId, block, cancellationToken: ct);
    }

    private static async Task<int> FillAsync(Stream source, byte[] buffer, int count, CancellationToken ct)
    {
        var filled = 0;
        while (filled < count)
        {
            var read = await source.ReadAsync(buffer.AsMemory(filled, count - filled), ct);
            if (read == 0) break;
            filled += read;
        }
        return filled;
    }

    private static string NormalizePrefix(string prefix)
    {
        prefix = prefix.Trim('/');
        if (prefix.Length == 0) throw new ArgumentException("A folder prefix must not be empty.", nameof(prefix));
        return prefix + "/";
    }

    private static void ValidateName(string blobName)
    {
        if (string.IsNullOrWhiteSpace(blobName)) throw new ArgumentException("Blob name must not be empty.", nameof(blobName));
        if (blobName.Length > 1024) throw new ArgumentException($"Blob name is {blobName.Length} characters; the limit is 1024.", nameof(blobName));
    }
}
