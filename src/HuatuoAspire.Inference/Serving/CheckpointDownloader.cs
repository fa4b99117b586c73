using Azure;
using Azure.Storage.Blobs;
using HuatuoAspire.Data.Blobs;
using HuatuoAspire.Inference.Contracts;

namespace HuatuoAspire.Inference.Serving;

/// <summary>Fetches a model folder stored in blob storage (as the trainer uploads checkpoints) into the local checkpoint cache.</summary>
public static class CheckpointDownloader
{
    public static async Task<string> DownloadAsync(IServiceProvider services, InferenceOptions options, string prefix, CancellationToken ct)
    {
        var store = services.GetService<ArtifactStore>() ?? CreateStore(services);
        var folder = Path.GetFullPath(Path.Combine(options.CheckpointCacheDir, string.Join('_', prefix.Split('/', '\\', ':'))));
        // Each switch downloads afresh: a prefix may be rewritten by a resumed run, and every blob's hash is verified.
        var staging = folder + ".partial";
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        IReadOnlyList<StoredBlob> blobs;
        try
        {
            blobs = await store.DownloadFolderAsync(prefix, staging, ct);
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
        if (blobs.Count == 0)
            throw InferenceRequestException.InvalidParameter("blob_prefix", $"No blobs start with '{prefix}/' in blob storage.");
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        Directory.Move(staging, folder);
        return folder;
    }

    private static ArtifactStore CreateStore(IServiceProvider services)
    {
        var connection = services.GetRequiredService<IConfiguration>().GetConnectionString(ConnectionNames.Blobs);
        if (string.IsNullOrWhiteSpace(connection))
        {
            throw InferenceRequestException.InvalidParameter("blob_prefix",
                $"Blob storage is not configured: set ConnectionStrings:{ConnectionNames.Blobs} to switch to a checkpoint by blob prefix.");
        }
        return new ArtifactStore(new BlobServiceClient(connection));
    }
}
