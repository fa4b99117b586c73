using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Training.Data;

namespace HuatuoAspire.Trainer.Uploads;

/// <summary>An upload that bad input or an existing blob refused; nothing was uploaded.</summary>
public sealed class UploadRefusedException(string message) : InvalidOperationException(message);

/// <summary>What an upload wrote: the blobs with their SHA-256, the stale blobs of an earlier upload it deleted.</summary>
public sealed record UploadResult(BlobReference Target, IReadOnlyList<StoredBlob> Uploaded, int StaleDeleted);

/// <summary>
/// A base model folder or a training data file into blob storage through the artifact store, so every blob carries
/// the SHA-256 the trainer and the inference service verify on download. One place for <c>huatuo upload</c> and the
/// dashboard's upload forms (through the trainer's upload API): the same checks, the same refusal to replace.
/// </summary>
public static class TrainingUploads
{
    public static async Task<UploadResult> UploadModelAsync(ArtifactStore store, string folder, BlobReference target, bool overwrite, CancellationToken ct)
    {
        if (!Directory.Exists(folder)) throw new UploadRefusedException($"{folder} does not exist.");
        if (!File.Exists(Path.Combine(folder, "config.json")))
            throw new UploadRefusedException($"{folder} is not a Hugging Face model folder: it has no config.json.");
        if (!Directory.EnumerateFiles(folder, "*.safetensors", SearchOption.TopDirectoryOnly).Any())
            throw new UploadRefusedException($"{folder} has no *.safetensors weights (pytorch_model.bin is not read by this project).");

        var existing = await ExistingAsync(store, target.Name + "/", ct);
        RefuseToReplace(existing, target, overwrite);
        var uploaded = await store.UploadFolderAsync(folder, target.Name, ct);
        // Blobs of an earlier upload that this folder no longer has (a shard count that changed) would be served too.
        var stale = existing.Except(uploaded.Select(b => b.Name), StringComparer.Ordinal).ToList();
        foreach (var name in stale) await store.DeleteAsync(name, ct);
        return new UploadResult(target, uploaded, stale.Count);
    }

    public static async Task<UploadResult> UploadDataAsync(ArtifactStore store, string file, TrainingRunKind kind, BlobReference target, bool overwrite, CancellationToken ct)
    {
        var info = new FileInfo(file);
        if (!info.Exists) throw new UploadRefusedException($"{file} does not exist or is not a file.");
        if (info.Length == 0) throw new UploadRefusedException($"{file} is empty.");
        // The trainer reads the file only when the run starts, on a GPU: a record it cannot read fails here instead.
        _ = kind == TrainingRunKind.Ppo ? TrainingDataFile.ReadPpo(file).Count : TrainingDataFile.ReadSft(file).Count;

        var existing = await ExistingAsync(store, target.Name, ct);
        RefuseToReplace(existing.Where(n => n == target.Name).ToList(), target, overwrite);
        var uploaded = await store.UploadFileAsync(target.Name, file, ct);
        return new UploadResult(target, [uploaded], 0);
    }

    private static async Task<List<string>> ExistingAsync(ArtifactStore store, string prefix, CancellationToken ct)
    {
        var names = new List<string>();
        await foreach (var blob in store.ListAsync(prefix, ct)) names.Add(blob.Name);
        return names;
    }

    private static void RefuseToReplace(IReadOnlyCollection<string> existing, BlobReference target, bool overwrite)
    {
        if (existing.Count > 0 && !overwrite)
            throw new UploadRefusedException(
                $"{target} already holds {existing.Count} blob(s) (a checkpoint of a training run lives under blob:training/...): nothing was uploaded; pass --overwrite (on the dashboard: tick Overwrite) to replace them.");
    }
}
