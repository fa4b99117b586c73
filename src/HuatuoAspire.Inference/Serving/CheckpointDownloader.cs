using Azure;
using HuatuoAspire.Storage;
using HuatuoAspire.Inference.Contracts;
using Microsoft.Extensions.Options;

namespace HuatuoAspire.Inference.Serving;

/// <summary>
/// Fetches a model folder stored in blob storage (as the trainer uploads checkpoints) into the local checkpoint cache.
/// The blobs go into a temporary sibling folder and are renamed into place only when every one arrived with its
/// SHA-256 verified, so the cache never holds a failed or partial download under a checkpoint's name.
/// </summary>
/// <param name="options">Where the checkpoint cache is.</param>
/// <param name="store">The blob store, resolved on the first switch by blob prefix: serving a folder needs none.</param>
public sealed class CheckpointDownloader(IOptions<InferenceOptions> options, Func<ArtifactStore> store)
{
    private const string StagingMarker = ".partial-";
    private const string ReplacedMarker = ".replaced-";

    // Switches are rare and each downloads a whole model: one at a time keeps the leftovers sweep safe.
    private static readonly SemaphoreSlim OneAtATime = new(1, 1);

    public Task<string> DownloadAsync(string prefix, CancellationToken ct) =>
        DownloadAsync(store(), options.Value.CheckpointCacheFolder(), prefix, ct);

    public static async Task<string> DownloadAsync(ArtifactStore store, string cacheFolder, string prefix, CancellationToken ct)
    {
        var folder = Path.GetFullPath(Path.Combine(cacheFolder, string.Join('_', prefix.Split('/', '\\', ':'))));
        await OneAtATime.WaitAsync(ct);
        try
        {
            RemoveLeftovers(folder);
            // Each switch downloads afresh: a prefix may be rewritten by a resumed run, and every blob's hash is verified.
            var staging = folder + StagingMarker + Guid.NewGuid().ToString("N");
            try
            {
                var blobs = await DownloadVerifiedAsync(store, prefix, staging, ct);
                if (blobs.Count == 0)
                    throw InferenceRequestException.InvalidParameter("blob_prefix", $"No blobs start with '{prefix}/' in blob storage.");
                Replace(folder, staging);
                return folder;
            }
            finally
            {
                if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            }
        }
        finally
        {
            OneAtATime.Release();
        }
    }

    private static async Task<IReadOnlyList<StoredBlob>> DownloadVerifiedAsync(ArtifactStore store, string prefix, string staging, CancellationToken ct)
    {
        try
        {
            return await store.DownloadFolderAsync(prefix, staging, ct);
        }
        catch (RequestFailedException e)
        {
            throw InferenceRequestException.InvalidParameter("blob_prefix", $"The checkpoint '{prefix}' could not be downloaded: {e.Message}");
        }
        catch (FileNotFoundException)
        {
            throw InferenceRequestException.InvalidParameter("blob_prefix", $"No blobs start with '{prefix}/' in blob storage.");
        }
        catch (BlobHashMismatchException e)
        {
            throw InferenceRequestException.InvalidParameter("blob_prefix", $"The checkpoint '{prefix}' is corrupt: {e.Message}");
        }
        catch (InvalidDataException e)
        {
            throw InferenceRequestException.InvalidParameter("blob_prefix", $"The checkpoint '{prefix}' cannot be verified: {e.Message}");
        }
    }

    /// <summary>Renames the complete download into place; an earlier copy is moved aside first and deleted after.</summary>
    private static void Replace(string folder, string staging)
    {
        if (!Directory.Exists(folder))
        {
            Directory.Move(staging, folder);
            return;
        }
        var replaced = folder + ReplacedMarker + Guid.NewGuid().ToString("N");
        Directory.Move(folder, replaced);
        try
        {
            Directory.Move(staging, folder);
        }
        catch
        {
            Directory.Move(replaced, folder);
            throw;
        }
        Directory.Delete(replaced, recursive: true);
    }

    /// <summary>Deletes what a process killed mid-download or mid-swap left beside <paramref name="folder"/>.</summary>
    private static void RemoveLeftovers(string folder)
    {
        var parent = Path.GetDirectoryName(folder)!;
        if (!Directory.Exists(parent)) return;
        var name = Path.GetFileName(folder);
        foreach (var leftover in Directory.EnumerateDirectories(parent, name + ".*"))
        {
            var suffix = Path.GetFileName(leftover)[name.Length..];
            if (suffix.StartsWith(StagingMarker, StringComparison.Ordinal) || suffix.StartsWith(ReplacedMarker, StringComparison.Ordinal)
                || suffix == ".partial")
                Directory.Delete(leftover, recursive: true);
        }
    }
}
