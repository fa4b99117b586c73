using System.Diagnostics.Metrics;
using System.Text.Json;
using Hangfire;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Blobs;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Modules;
using HuatuoAspire.Training;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Sft;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Trainer.Jobs;

/// <summary>
/// Runs one training run as a Hangfire job on the "training" queue (served by the trainer alone, one at a time).
/// Metrics go to PostgreSQL after every optimizer step; every resumable checkpoint goes to blob storage as soon as it
/// is written. A job whose process was killed is delivered again by Hangfire: it fetches the newest checkpoint (from
/// the local work folder, else from blob storage), drops the metrics recorded after it, and continues from there.
/// </summary>
public sealed class TrainingJobs(
    IDbContextFactory<HuatuoDbContext> contexts, ArtifactStore artifacts, IConfiguration configuration, ILogger<TrainingJobs> logger)
{
    private static readonly Meter Meter = new("HuatuoAspire.Training");
    private static readonly Histogram<double> LossHistogram = Meter.CreateHistogram<double>("huatuo.training.loss");
    private static readonly Histogram<double> ThroughputHistogram = Meter.CreateHistogram<double>("huatuo.training.tokens_per_second", "{token}/s");
    private static readonly Counter<long> StepCounter = Meter.CreateCounter<long>("huatuo.training.steps");

    public string WorkDirectory(long runId) => Path.Combine(
        configuration["Trainer:WorkDirectory"] ?? Path.Combine(Path.GetTempPath(), "huatuo-training"), $"run-{runId}");

    public static string BlobPrefix(long runId) => $"training/run-{runId}";

    [Queue(HuatuoAspire.Data.Jobs.JobStorage.Queues.Training)]
    [AutomaticRetry(Attempts = 0)] // a failed run stays failed; a killed one is redelivered by Hangfire itself
    [JobDisplayName("Training run {0}")]
    public async Task RunAsync(long runId, CancellationToken hangfireToken)
    {
        TrainingRun run;
        await using (var db = await contexts.CreateDbContextAsync(hangfireToken))
        {
            run = await db.TrainingRuns.FirstOrDefaultAsync(r => r.Id == runId, hangfireToken)
                  ?? throw new InvalidOperationException($"Training run {runId} does not exist.");
            if (run.Status is RunStatus.Succeeded or RunStatus.Cancelled or RunStatus.Failed) return; // idempotent
            run.Status = RunStatus.Running;
            run.StartedAt ??= DateTime.UtcNow;
            await db.SaveChangesAsync(hangfireToken);
        }
        var config = JsonSerializer.Deserialize<TrainingRunConfig>(run.Config, TrainingRunConfig.Json)!;
        var work = WorkDirectory(runId);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(hangfireToken);
        try
        {
            var resumeStep = await RestoreNewestCheckpointAsync(runId, work, hangfireToken);
            await DropMetricsAfterAsync(runId, resumeStep, hangfireToken);

            var uploaded = new HashSet<string>(StringComparer.Ordinal);
            var trainer = new SftTrainer(new SftOptions
            {
                LearningRate = config.LearningRate,
                Epochs = config.Epochs,
                BatchSize = config.BatchSize,
                MicroBatchSize = config.MicroBatchSize,
                MaxSeqLen = config.MaxSeqLen,
                WarmupRatio = config.WarmupRatio,
                Seed = config.Seed,
                SaveEvery = config.SaveEvery,
                Resume = true,
                Placement = ModelPlacement.Default,
                LoraRank = config.LoraRank,
                LoraAlpha = config.LoraAlpha,
                LoraDropout = config.LoraDropout,
                LoraTargets = config.LoraTargets is { Count: > 0 } targets ? targets : LoraSettings.DefaultTargets,
            });
            var records = TrainingDataFile.ReadSft(config.Data);
            var result = await Task.Run(() => trainer.Run(config.Model, records, work,
                progress: p => OnStep(runId, p, work, uploaded, cancel),
                log: line => logger.LogInformation("Training run {RunId}: {Line}", runId, line),
                cancellationToken: cancel.Token), cancel.Token);

            await UploadCheckpointAsync(runId, result.ModelDirectory, result.Steps, "final", CancellationToken.None);
            await FinishAsync(runId, RunStatus.Succeeded, null);
        }
        catch (OperationCanceledException) when (!hangfireToken.IsCancellationRequested)
        {
            await FinishAsync(runId, RunStatus.Cancelled, null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Training run {RunId} failed", runId);
            await FinishAsync(runId, RunStatus.Failed, e.Message);
            throw;
        }
    }

    /// <summary>Called on the training thread after every optimizer step.</summary>
    private void OnStep(long runId, TrainingProgress progress, string work, HashSet<string> uploaded, CancellationTokenSource cancel)
    {
        using var db = contexts.CreateDbContext();
        foreach (var (name, value) in progress.Figures)
        {
            if (double.IsFinite(value)) db.TrainingMetrics.Add(new TrainingMetric { TrainingRunId = runId, Step = progress.Step, Name = name, Value = value });
        }
        db.SaveChanges();
        StepCounter.Add(1);
        if (progress.Figures.TryGetValue("loss", out var loss)) LossHistogram.Record(loss);
        if (progress.Figures.TryGetValue("tokens_per_s", out var tps)) ThroughputHistogram.Record(tps);

        if (db.TrainingRuns.Where(r => r.Id == runId).Select(r => r.CancellationRequested).First()) cancel.Cancel();

        // A checkpoint folder is complete once its trainer_state.json exists: upload each one once.
        foreach (var folder in Directory.GetDirectories(work, "checkpoint-*"))
        {
            if (uploaded.Contains(folder) || !File.Exists(Path.Combine(folder, TrainingCheckpoint.StateFile))) continue;
            var step = int.Parse(Path.GetFileName(folder)["checkpoint-".Length..]);
            UploadCheckpointAsync(runId, folder, step, $"checkpoint-{step}", CancellationToken.None).GetAwaiter().GetResult();
            uploaded.Add(folder);
        }
    }

    private async Task UploadCheckpointAsync(long runId, string folder, int step, string name, CancellationToken ct)
    {
        var prefix = $"{BlobPrefix(runId)}/{name}";
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

    /// <summary>The step to resume from: the newest complete local checkpoint, else the newest uploaded one (downloaded).</summary>
    private async Task<int> RestoreNewestCheckpointAsync(long runId, string work, CancellationToken ct)
    {
        Directory.CreateDirectory(work);
        if (TrainingCheckpoint.Latest(work, "sft") is { } local) return local.NextStep;
        await using var db = await contexts.CreateDbContextAsync(ct);
        var newest = await db.Checkpoints.Where(c => c.TrainingRunId == runId && c.BlobName.Contains("/checkpoint-"))
            .OrderByDescending(c => c.Step).FirstOrDefaultAsync(ct);
        if (newest is null) return 0;
        await artifacts.DownloadFolderAsync(newest.BlobName, TrainingCheckpoint.Folder(work, newest.Step), ct);
        logger.LogInformation("Training run {RunId}: restored checkpoint {Step} from blob storage", runId, newest.Step);
        return newest.Step;
    }

    private async Task DropMetricsAfterAsync(long runId, int step, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        await db.TrainingMetrics.Where(m => m.TrainingRunId == runId && m.Step > step).ExecuteDeleteAsync(ct);
    }

    private async Task FinishAsync(long runId, RunStatus status, string? error)
    {
        await using var db = await contexts.CreateDbContextAsync();
        var run = await db.TrainingRuns.FirstAsync(r => r.Id == runId);
        run.Status = status;
        run.Error = error;
        run.FinishedAt = DateTime.UtcNow;
        await db.SaveChangesAsync();
    }
}
