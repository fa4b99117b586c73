using System.Text.Json;
using Hangfire;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Data.Export;
using HuatuoAspire.Domain.Reward;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Model;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Verification;
using HuatuoAspire.Training;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Ppo;
using HuatuoAspire.Training.Scoring;
using HuatuoAspire.Training.Sft;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Trainer.Jobs;

/// <summary>
/// Runs one training run as a Hangfire job on the "training" queue (served by the trainer alone, one at a time).
/// Metrics go to PostgreSQL after every optimizer step (<see cref="TrainingStepRecorder"/>); every resumable checkpoint
/// goes to blob storage as soon as it is written (<see cref="CheckpointUploader"/>). A job whose process was killed is delivered again by Hangfire: it fetches the newest checkpoint (from
/// the local work folder, else from blob storage), drops the metrics recorded after it, and continues from there.
/// </summary>
public sealed class TrainingJobs(
    IDbContextFactory<HuatuoDbContext> contexts, ArtifactStore artifacts, DatasetExporter exporter, IConfiguration configuration,
    Lazy<LlmEndpointRegistry> llms, ILogger<TrainingJobs> logger)
{
    // Without Trainer:WorkDirectory (huatuo up sets one under its data folder): a folder only this process knows and
    // only this user can read (0700), never a shared, predictable /tmp path another instance or user could fill.
    private static readonly Lazy<string> PrivateWorkRoot = new(() => Directory.CreateTempSubdirectory("huatuo-training-").FullName);

    public string WorkDirectory(long runId) => Path.Combine(configuration["Trainer:WorkDirectory"] ?? PrivateWorkRoot.Value, $"run-{runId}");

    public static string BlobPrefix(long runId) => $"training/run-{runId}";

    [Queue(HuatuoAspire.Data.Jobs.HuatuoJobStorage.Queues.Training)]
    [AutomaticRetry(Attempts = 0)] // a failed run stays failed; a killed one is redelivered by Hangfire itself
    [JobDisplayName("Training run {0}")]
    public async Task RunAsync(long runId, CancellationToken hangfireToken)
    {
        if (await MarkRunningAsync(runId, hangfireToken) is not { } started) return; // idempotent: the run has ended
        var (run, manifest) = started;
        var config = JsonSerializer.Deserialize<TrainingRunConfig>(run.Config, TrainingRunConfig.Json)!;
        var work = WorkDirectory(runId);
        PrepareWorkFolder(work, manifest);
        var inputs = new TrainingInputs(contexts, artifacts, exporter, runId);
        var checkpoints = new CheckpointUploader(contexts, artifacts, runId, manifest);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(hangfireToken);
        try
        {
            var stage = config.IsPpo ? "ppo" : "sft";
            var resumeStep = await RestoreNewestCheckpointAsync(runId, work, stage, manifest, hangfireToken);
            await DropMetricsAfterAsync(runId, resumeStep, hangfireToken);

            var recorder = new TrainingStepRecorder(contexts, runId, stage, cancel);
            Func<TrainingProgress, Task> onStep = async p =>
            {
                recorder.Record(p);
                await checkpoints.UploadNewCheckpointsAsync(work);
            };
            Action<string> log = line => logger.LogInformation("Training run {RunId}: {Line}", runId, line);
            await TrainAndUploadAsync(config, inputs, checkpoints, recorder, work, onStep, log, cancel.Token);
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

    /// <summary>The run marked Running with its manifest; null when it has already ended.</summary>
    private async Task<(TrainingRun Run, TrainingRunManifest Manifest)?> MarkRunningAsync(long runId, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var run = await db.TrainingRuns.FirstOrDefaultAsync(r => r.Id == runId, ct)
                  ?? throw new InvalidOperationException($"Training run {runId} does not exist.");
        if (run.Status is RunStatus.Succeeded or RunStatus.Cancelled or RunStatus.Failed) return null;
        run.Status = RunStatus.Running;
        run.StartedAt ??= DateTime.UtcNow;
        await db.SaveChangesAsync(ct);
        return (run, await TrainingRunManifest.ForRunAsync(db, run, ct));
    }

    /// <summary>Trains the run's stage, then uploads its final folders.</summary>
    private async Task TrainAndUploadAsync(TrainingRunConfig config, TrainingInputs inputs, CheckpointUploader checkpoints,
        TrainingStepRecorder recorder, string work, Func<TrainingProgress, Task> onStep, Action<string> log, CancellationToken ct)
    {
        if (config.IsPpo)
        {
            var result = await RunPpoAsync(config, inputs, work, onStep, log, ct);
            if (result.HeldOut is { } heldOut) await recorder.RecordHeldOutAsync(result.Steps, heldOut);
            await checkpoints.UploadAsync(result.ModelDirectory, result.Steps, "final", CancellationToken.None);
            await checkpoints.UploadAsync(result.ValueDirectory, result.Steps, "final-value", CancellationToken.None);
        }
        else
        {
            var result = await RunSftAsync(config, inputs, work, onStep, log, ct);
            await checkpoints.UploadAsync(result.ModelDirectory, result.Steps, "final", CancellationToken.None);
        }
    }

    private static async Task<SftResult> RunSftAsync(TrainingRunConfig config, TrainingInputs inputs, string work, Func<TrainingProgress, Task> onStep,
        Action<string> log, CancellationToken ct)
    {
        var model = await inputs.ResolveModelAsync(config.StartModel, Path.Combine(work, "inputs", "model"), ct);
        var local = Path.Combine(work, "inputs", "sft-data.jsonl");
        var data = config.Dataset is not null
            ? await inputs.DatasetSftFileAsync(config.Dataset, local, ct)
            : await inputs.ResolveFileAsync(config.Data!, local, ct);
        var trainer = new SftTrainer(config.Sft with { Resume = true, Placement = ModelPlacement.Default });
        var records = TrainingDataFile.ReadSft(data);
        return await Task.Run(() => trainer.RunAsync(model, records, work, onStep, log, ct), ct);
    }

    private async Task<PpoResult> RunPpoAsync(TrainingRunConfig config, TrainingInputs inputs, string work, Func<TrainingProgress, Task> onStep,
        Action<string> log, CancellationToken ct)
    {
        var folder = Path.Combine(work, "inputs");
        var policy = await inputs.ResolveModelAsync(config.StartModel, Path.Combine(folder, "policy"), ct);
        var value = config.Value is null ? policy : await inputs.ResolveModelAsync(config.Value, Path.Combine(folder, "value"), ct);
        var records = config.Dataset is not null
            ? await inputs.DatasetProblemsAsync(config.Dataset, Path.Combine(folder, "ppo-data.jsonl"), ct)
            : TrainingDataFile.ReadPpo(await inputs.ResolveFileAsync(config.Data!, Path.Combine(folder, "ppo-data.jsonl"), ct));
        var verifiers = new AnswerVerifierFactory(llms.Value,
            async (model, token) => new ClassifierVerifier(await inputs.ResolveModelAsync(model, Path.Combine(folder, "classifier"), token)));
        var verifier = await verifiers.CreateAsync(VerifierSpecification.Parse(config.VerifierSpec), ct);
        try
        {
            var trainer = new PpoTrainer(config.Ppo with { Resume = true, Placement = ModelPlacement.Default }, new HuatuoReward(verifier));
            log($"PPO on {records.Count} prompts with the {verifier.Name} verifier.");
            return await Task.Run(() => trainer.RunAsync(policy, value, records, work, onStep, log, ct), ct);
        }
        finally
        {
            (verifier as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// The run's work folder, holding only what this run wrote: a folder another run left there (another database's
    /// run with the same id, or one without a manifest) is removed, never resumed from.
    /// </summary>
    private void PrepareWorkFolder(string work, TrainingRunManifest manifest)
    {
        if (Directory.Exists(work) && !manifest.Marks(work))
        {
            logger.LogWarning("Training run {RunId}: {Folder} belongs to another run; its contents are removed, not resumed", manifest.RunId, work);
            Directory.Delete(work, recursive: true);
        }
        Directory.CreateDirectory(work);
        manifest.WriteTo(work);
    }

    /// <summary>The step to resume from: the newest complete local checkpoint, else the newest uploaded one (downloaded).</summary>
    private async Task<int> RestoreNewestCheckpointAsync(long runId, string work, string stage, TrainingRunManifest manifest, CancellationToken ct)
    {
        Directory.CreateDirectory(work);
        if (TrainingCheckpoint.Latest(work, stage) is { } local) return local.NextStep;
        await using var db = await contexts.CreateDbContextAsync(ct);
        var uploaded = await db.Checkpoints.Where(c => c.TrainingRunId == runId && c.BlobName.Contains("/checkpoint-"))
            .OrderByDescending(c => c.Step).ToListAsync(ct);
        foreach (var checkpoint in uploaded)
        {
            var folder = TrainingCheckpoint.Folder(work, checkpoint.Step);
            await artifacts.DownloadFolderAsync(checkpoint.BlobName, folder, ct);
            if (manifest.Marks(folder))
            {
                logger.LogInformation("Training run {RunId}: restored checkpoint {Step} from blob storage", runId, checkpoint.Step);
                return checkpoint.Step;
            }
            logger.LogWarning("Training run {RunId}: blob checkpoint {Blob} belongs to another run; not resumed", runId, checkpoint.BlobName);
            Directory.Delete(folder, recursive: true);
        }
        return 0;
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
