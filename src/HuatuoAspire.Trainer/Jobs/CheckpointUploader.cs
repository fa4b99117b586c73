using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Training;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Trainer.Jobs;

/// <summary>
/// Uploads a run's checkpoints to blob storage and records each one. The trainer waits for each checkpoint's upload
/// before its next step, so a killed run never loses more than the steps since its last checkpoint, and a failed
/// upload fails the run at once.
/// </summary>
public sealed class CheckpointUploader(IDbContextFactory<HuatuoDbContext> contexts, ArtifactStore artifacts, long runId, TrainingRunManifest manifest)
{
    private readonly HashSet<string> _uploaded = new(StringComparer.Ordinal);

    /// <summary>
    /// Uploads every checkpoint folder of <paramref name="work"/> that is complete and not yet uploaded. Awaited by the
    /// trainers after each optimizer step, so the next step waits until the upload is recorded.
    /// </summary>
    public async Task UploadNewCheckpointsAsync(string work)
    {
        // A checkpoint folder is complete once its trainer_state.json exists: upload each one once.
        foreach (var folder in Directory.GetDirectories(work, "checkpoint-*"))
        {
            if (_uploaded.Contains(folder) || !File.Exists(Path.Combine(folder, TrainingCheckpoint.StateFile))) continue;
            var step = int.Parse(Path.GetFileName(folder)["checkpoint-".Length..]);
            // Not cancelled with the run: a checkpoint is uploaded whole or the run fails.
            await UploadAsync(folder, step, $"checkpoint-{step}", CancellationToken.None);
            _uploaded.Add(folder);
        }
    }

    public async Task UploadAsync(string folder, int step, string name, CancellationToken ct)
    {
        // Every uploaded folder names its run: blob prefixes repeat across databases that share a storage account.
        manifest.WriteTo(folder);
        var prefix = $"{TrainingJobs.BlobPrefix(runId)}/{name}";
        var blobs = await artifacts.UploadFolderAsync(folder, prefix, ct);
        await using var db = await contexts.CreateDbContextAsync(ct);
        if (await db.Checkpoints.AnyAsync(c => c.TrainingRunId == runId && c.BlobName == prefix, ct)) return;
        db.Checkpoints.Add(new Checkpoint
        {
            TrainingRunId = runId,
            Step = step,
            BlobName = prefix,
            SizeBytes = blobs.Sum(b => b.SizeBytes),
            // The folder's hash: the SHA-256 of its files' names and hashes, in order.
            Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
                System.Text.Encoding.UTF8.GetBytes(string.Join('\n', blobs.OrderBy(b => b.Name, StringComparer.Ordinal).Select(b => $"{b.Name} {b.Sha256}"))))),
        });
        await db.SaveChangesAsync(ct);
    }
}
