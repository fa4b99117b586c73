using System.Diagnostics.Metrics;
using System.Text.Json;
using Hangfire;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Modules;
using HuatuoAspire.Training;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Verification;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Observability;
using HuatuoAspire.Training.Ppo;
using HuatuoAspire.Training.Scoring;
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
    IDbContextFactory<HuatuoDbContext> contexts, ArtifactStore artifacts, IConfiguration configuration, IServiceProvider services,
    ILogger<TrainingJobs> logger)
{
    /// <summary>Written into a model folder downloaded from blob storage once it is complete.</summary>
    private const string CompleteMarker = ".downloaded";

    // Every per-step figure is also a gauge huatuo.training.{name} (TrainingMetricsLog); these add the run's id.
    private static readonly Meter Meter = new(TrainingMetricsLog.MeterName);
    private static readonly Counter<long> StepCounter = Meter.CreateCounter<long>("huatuo.training.steps");
    private static readonly Histogram<double> RunFigures = Meter.CreateHistogram<double>("huatuo.training.run_figure");

    // Without Trainer:WorkDirectory (huatuo up sets one under its data folder): a folder only this process knows and
    // only this user can read (0700), never a shared, predictable /tmp path another instance or user could fill.
    private static readonly Lazy<string> PrivateWorkRoot = new(() => Directory.CreateTempSubdirectory("huatuo-training-").FullName);

    private TrainingRunManifest? _manifest;

    public string WorkDirectory(long runId) => Path.Combine(configuration["Trainer:WorkDirectory"] ?? PrivateWorkRoot.Value, $"run-{runId}");

    public static string BlobPrefix(long runId) => $"training/run-{runId}";

    [Queue(HuatuoAspire.Data.Jobs.HuatuoJobStorage.Queues.Training)]
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
            _manifest = await TrainingRunManifest.ForRunAsync(db, run, hangfireToken);
        }
        var config = JsonSerializer.Deserialize<TrainingRunConfig>(run.Config, TrainingRunConfig.Json)!;
        var work = WorkDirectory(runId);
        PrepareWorkFolder(work, _manifest);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(hangfireToken);
        try
        {
            var stage = config.IsPpo ? "ppo" : "sft";
            var resumeStep = await RestoreNewestCheckpointAsync(runId, work, stage, hangfireToken);
            await DropMetricsAfterAsync(runId, resumeStep, hangfireToken);

            var uploaded = new HashSet<string>(StringComparer.Ordinal);
            Action<TrainingProgress> onStep = p => OnStep(runId, stage, p, work, uploaded, cancel);
            Action<string> log = line => logger.LogInformation("Training run {RunId}: {Line}", runId, line);
            if (config.IsPpo)
            {
                var result = await RunPpoAsync(runId, config, work, onStep, log, cancel.Token);
                await UploadCheckpointAsync(runId, result.ModelDirectory, result.Steps, "final", CancellationToken.None);
                await UploadCheckpointAsync(runId, result.ValueDirectory, result.Steps, "final-value", CancellationToken.None);
            }
            else
            {
                var model = await ResolveModelAsync(config.StartModel, Path.Combine(work, "inputs", "model"), hangfireToken);
                var data = await ResolveFileAsync(config.Data!, Path.Combine(work, "inputs", "sft-data.jsonl"), hangfireToken);
                var trainer = new SftTrainer(new SftOptions
                {
                    LearningRate = config.LearningRate ?? new SftOptions().LearningRate,
                    Epochs = config.Epochs ?? new SftOptions().Epochs,
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
                var records = TrainingDataFile.ReadSft(data);
                var result = await Task.Run(() => trainer.Run(model, records, work, onStep, log, cancel.Token), cancel.Token);
                await UploadCheckpointAsync(runId, result.ModelDirectory, result.Steps, "final", CancellationToken.None);
            }
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

    private async Task<PpoResult> RunPpoAsync(long runId, TrainingRunConfig config, string work, Action<TrainingProgress> onStep,
        Action<string> log, CancellationToken ct)
    {
        var inputs = Path.Combine(work, "inputs");
        var policy = await ResolveModelAsync(config.StartModel, Path.Combine(inputs, "policy"), ct);
        var value = config.Value is null ? policy : await ResolveModelAsync(config.Value, Path.Combine(inputs, "value"), ct);
        var records = config.Dataset is not null
            ? await DatasetProblemsAsync(runId, config.Dataset, Path.Combine(inputs, "ppo-data.jsonl"), ct)
            : TrainingDataFile.ReadPpo(await ResolveFileAsync(config.Data!, Path.Combine(inputs, "ppo-data.jsonl"), ct));
        var verifier = await CreateVerifierAsync(config.Verifier, inputs, ct);
        try
        {
            var defaults = new PpoOptions();
            var trainer = new PpoTrainer(new PpoOptions
            {
                LearningRate = config.LearningRate ?? defaults.LearningRate,
                ValueLearningRate = config.ValueLearningRate ?? config.LearningRate ?? defaults.ValueLearningRate,
                KlCoefficient = config.KlCoefficient,
                Gamma = config.Gamma,
                Lambda = config.Lambda,
                ClipRange = config.ClipRange,
                ValueClipRange = config.ValueClipRange,
                PpoEpochs = config.PpoEpochs,
                RolloutBatchSize = config.RolloutBatchSize,
                SamplesPerPrompt = config.SamplesPerPrompt,
                ValueWarmupIterations = config.ValueWarmupIterations,
                MiniBatchSize = config.MiniBatchSize,
                Epochs = config.Epochs ?? defaults.Epochs,
                Temperature = config.Temperature,
                MaxNewTokens = config.ResponseLength,
                Seed = config.Seed,
                SaveEvery = config.SaveEvery,
                Resume = true,
                Placement = ModelPlacement.Default,
            }, new HuatuoReward(verifier));
            log($"PPO on {records.Count} prompts with the {verifier.Name} verifier.");
            return await Task.Run(() => trainer.RunAsync(policy, value, records, work, onStep, log, ct), ct);
        }
        finally
        {
            (verifier as IDisposable)?.Dispose();
        }
    }

    private async Task<IAnswerVerifier> CreateVerifierAsync(string verifier, string inputs, CancellationToken ct) =>
        TrainingRunConfig.VerifierKind(verifier) switch
        {
            "rule" => new RuleVerifier(),
            "llm" => new LlmJudgeVerifier(services.GetRequiredService<LlmEndpointRegistry>().Get(TrainingRunConfig.JudgeEndpoint(verifier))),
            "classifier" => new ClassifierVerifier(await ResolveModelAsync(verifier["classifier:".Length..], Path.Combine(inputs, "classifier"), ct)),
            _ => throw new ArgumentException($"verifier '{verifier}' must be rule, llm, llm:ENDPOINT or classifier:FOLDER|blob:PREFIX."),
        };

    /// <summary>A model folder on this machine: the path itself, or the blob folder downloaded (once) to <paramref name="local"/>.</summary>
    private async Task<string> ResolveModelAsync(string reference, string local, CancellationToken ct)
    {
        if (!TrainingRunConfig.IsBlob(reference)) return reference;
        if (File.Exists(Path.Combine(local, CompleteMarker))) return local;
        if (Directory.Exists(local)) Directory.Delete(local, recursive: true);
        await artifacts.DownloadFolderAsync(TrainingRunConfig.BlobPrefix(reference), local, ct);
        await File.WriteAllTextAsync(Path.Combine(local, CompleteMarker), reference, ct);
        return local;
    }

    /// <summary>A data file on this machine: the path itself, or the blob downloaded (once) to <paramref name="local"/>.</summary>
    private async Task<string> ResolveFileAsync(string reference, string local, CancellationToken ct)
    {
        if (!TrainingRunConfig.IsBlob(reference)) return reference;
        if (!File.Exists(local)) await artifacts.DownloadFileAsync(TrainingRunConfig.BlobPrefix(reference), local, ct);
        return local;
    }

    /// <summary>
    /// The PPO prompts of a dataset: its verifiable problems except the rejected ones, in id order. The first delivery
    /// snapshots them to blob storage, so a resumed run trains on the same prompts even if the dataset has changed.
    /// </summary>
    private async Task<IReadOnlyList<PpoRecord>> DatasetProblemsAsync(long runId, string dataset, string local, CancellationToken ct)
    {
        var snapshot = $"{BlobPrefix(runId)}/inputs/ppo-data.jsonl";
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

    /// <summary>Called on the training thread after every optimizer step.</summary>
    private void OnStep(long runId, string stage, TrainingProgress progress, string work, HashSet<string> uploaded, CancellationTokenSource cancel)
    {
        using var db = contexts.CreateDbContext();
        var run = new KeyValuePair<string, object?>("run", runId);
        var kind = new KeyValuePair<string, object?>("stage", stage);
        foreach (var (name, value) in progress.Figures)
        {
            if (!double.IsFinite(value)) continue;
            db.TrainingMetrics.Add(new TrainingMetric { TrainingRunId = runId, Step = progress.Step, Name = name, Value = value });
            RunFigures.Record(value, run, kind, new KeyValuePair<string, object?>("figure", name));
        }
        db.SaveChanges();
        StepCounter.Add(1, run, kind);

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

    private async Task UploadCheckpointAsync(long runId, string folder, int step, string name, CancellationToken ct)
    {
        // Every uploaded folder names its run: blob prefixes repeat across databases that share a storage account.
        _manifest?.WriteTo(folder);
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
    private async Task<int> RestoreNewestCheckpointAsync(long runId, string work, string stage, CancellationToken ct)
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
            if (_manifest!.Marks(folder))
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
