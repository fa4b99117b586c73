using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Data.Export;
using HuatuoAspire.Training.Data;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Trainer.Jobs;

/// <summary>
/// A run's inputs on this machine: model folders and data files given as paths or <c>blob:PREFIX</c> (downloaded
/// once into the run's work folder), and a dataset's problems or trajectories snapshotted to blob storage on the first delivery.
/// </summary>
public sealed class TrainingInputs(IDbContextFactory<HuatuoDbContext> contexts, ArtifactStore artifacts, DatasetExporter exporter, long runId)
{
    /// <summary>Written into a model folder downloaded from blob storage once it is complete.</summary>
    private const string CompleteMarker = ".downloaded";

    /// <summary>A model folder on this machine: the path itself, or the blob folder downloaded (once) to <paramref name="local"/>.</summary>
    public async Task<string> ResolveModelAsync(string reference, string local, CancellationToken ct)
    {
        if (!TrainingRunConfig.IsBlob(reference)) return reference;
        if (File.Exists(Path.Combine(local, CompleteMarker))) return local;
        if (Directory.Exists(local)) Directory.Delete(local, recursive: true);
        await artifacts.DownloadFolderAsync(TrainingRunConfig.BlobPrefix(reference), local, ct);
        await File.WriteAllTextAsync(Path.Combine(local, CompleteMarker), reference, ct);
        return local;
    }

    /// <summary>A data file on this machine: the path itself, or the blob downloaded (once) to <paramref name="local"/>.</summary>
    public async Task<string> ResolveFileAsync(string reference, string local, CancellationToken ct)
    {
        if (!TrainingRunConfig.IsBlob(reference)) return reference;
        if (!File.Exists(local)) await artifacts.DownloadFileAsync(TrainingRunConfig.BlobPrefix(reference), local, ct);
        return local;
    }

    /// <summary>
    /// The PPO prompts of a dataset: its verifiable problems except the rejected ones, in id order. The first delivery
    /// snapshots them to blob storage, so a resumed run trains on the same prompts even if the dataset has changed.
    /// </summary>
    public async Task<IReadOnlyList<PpoRecord>> DatasetProblemsAsync(string dataset, string local, CancellationToken ct)
    {
        var snapshot = $"{TrainingJobs.BlobPrefix(runId)}/inputs/ppo-data.jsonl";
        if (!File.Exists(local))
        {
            try
            {
                await artifacts.DownloadFileAsync(snapshot, local, ct);
            }
            catch (FileNotFoundException)
            {
                await using var db = await contexts.CreateDbContextAsync(ct);
                var problems = await db.VerifiableProblems.AsNoTracking()
                    .Where(p => p.Dataset!.Name == dataset && p.Status != ProblemStatus.Rejected)
                    .OrderBy(p => p.Id).Select(p => new PpoRecord(p.OpenEndedQuestion, p.GroundTruthAnswer)).ToListAsync(ct);
                if (problems.Count == 0) throw new TrainingDataException($"dataset '{dataset}' has no verifiable problems (other than rejected ones).");
                TrainingDataFile.WritePpo(local, problems);
                await artifacts.UploadFileAsync(snapshot, local, ct);
            }
        }
        return TrainingDataFile.ReadPpo(local);
    }

    /// <summary>
    /// The SFT examples of a dataset: its finished trajectories (searched or imported), exported in the reference
    /// format. Snapshotted to blob storage on the first delivery, as <see cref="DatasetProblemsAsync"/> does.
    /// </summary>
    public async Task<string> DatasetSftFileAsync(string dataset, string local, CancellationToken ct)
    {
        var snapshot = $"{TrainingJobs.BlobPrefix(runId)}/inputs/sft-data.jsonl";
        if (File.Exists(local)) return local;
        try
        {
            await artifacts.DownloadFileAsync(snapshot, local, ct);
        }
        catch (FileNotFoundException)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(local)!);
            int count;
            await using (var stream = File.Create(local))
                count = await exporter.ExportSftAsync(stream, ExportFormat.Jsonl, dataset, ct);
            if (count == 0)
            {
                File.Delete(local);
                throw new TrainingDataException($"dataset '{dataset}' has no finished reasoning trajectories (searched or imported) to train on.");
            }
            await artifacts.UploadFileAsync(snapshot, local, ct);
        }
        return local;
    }
}
