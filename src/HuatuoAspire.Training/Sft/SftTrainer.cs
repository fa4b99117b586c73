using System.Diagnostics;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Modules;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Observability;
using HuatuoAspire.Training.Optimization;
using TorchSharp;
using static TorchSharp.torch;

namespace HuatuoAspire.Training.Sft;

/// <summary>SFT settings; the defaults are the reference hyper-parameters for real models.</summary>
public sealed record SftOptions
{
    public double LearningRate { get; init; } = 5e-6;
    public int Epochs { get; init; } = 3;
    /// <summary>Examples (or packed rows) per optimizer step: micro-batch × gradient-accumulation steps.</summary>
    public int BatchSize { get; init; } = 128;
    public int MicroBatchSize { get; init; } = 4;
    public int MaxSeqLen { get; init; } = 8192;
    public double WeightDecay { get; init; } = 0.1;
    public double WarmupRatio { get; init; } = 0.05;
    public double MaxGradNorm { get; init; } = 1.0;
    public int Seed { get; init; } = 42;
    public bool Pack { get; init; }
    /// <summary>Write a resumable checkpoint every N optimizer steps (0: only the final model).</summary>
    public int SaveEvery { get; init; }
    /// <summary>Stop after this many optimizer steps of the planned run (for tests of resume; null: run to the end).</summary>
    public int? StopAfterStep { get; init; }
    public bool Resume { get; init; }
    public ModelPlacement? Placement { get; init; }
    /// <summary>LoRA rank (0: full fine-tuning). With LoRA the base weights are frozen and only the adapters train.</summary>
    public int LoraRank { get; init; }
    public double LoraAlpha { get; init; } = 16;
    public double LoraDropout { get; init; } = 0.05;
    public IReadOnlyList<string> LoraTargets { get; init; } = LoraSettings.DefaultTargets;

    /// <summary>The LoRA settings, or null when LoRA is off.</summary>
    public LoraSettings? Lora => LoraRank > 0 ? new LoraSettings(LoraRank, LoraAlpha, LoraDropout, LoraTargets) : null;

    public int AccumulationSteps => Math.Max(1, BatchSize / Math.Max(1, MicroBatchSize));

    public void Validate()
    {
        if (!(LearningRate > 0)) throw new ArgumentException($"learning rate must be positive (got {LearningRate}).");
        if (Epochs < 1) throw new ArgumentException($"epochs must be at least 1 (got {Epochs}).");
        if (MicroBatchSize < 1 || BatchSize < MicroBatchSize)
            throw new ArgumentException($"batch size ({BatchSize}) must be at least the micro-batch size ({MicroBatchSize}), which must be at least 1.");
        if (WarmupRatio is < 0 or > 1) throw new ArgumentException($"warm-up ratio must be in [0, 1] (got {WarmupRatio}).");
        if (MaxSeqLen < 2) throw new ArgumentException($"max sequence length must be at least 2 (got {MaxSeqLen}).");
        if (LoraRank < 0) throw new ArgumentException($"LoRA rank must be 0 (off) or positive (got {LoraRank}).");
        Lora?.Validate();
    }
}

/// <summary>The outcome of an SFT run.</summary>
public sealed record SftResult(string ModelDirectory, int Steps, int Examples, int TruncatedExamples, double FinalLoss, double TokensPerSecond);

/// <summary>
/// Stage 1: supervised fine-tuning on (question, CoT, response). Tokenises every example once, plans all
/// micro-batches up front, and per optimizer step: accumulates the summed token loss over its micro-batches,
/// divides by the step's label-token count (so accumulation equals one big batch), clips the gradient norm, sets
/// the cosine learning rate and steps AdamW. Metrics go to metrics.jsonl; checkpoints every N steps.
/// </summary>
public sealed class SftTrainer(SftOptions options)
{
    public SftOptions Options { get; } = options;

    /// <summary>Number of records cut to their last max_seq_len tokens (set by <see cref="Encode"/>).</summary>
    public int TruncatedExamples { get; private set; }

    public IReadOnlyList<EncodedExample> Encode(HfTokenizer tokenizer, IReadOnlyList<SftRecord> records)
    {
        var encoder = new SftExampleEncoder(tokenizer, Options.MaxSeqLen);
        var encoded = new EncodedExample[records.Count];
        Parallel.For(0, records.Count, i => encoded[i] = encoder.Encode(records[i]));
        TruncatedExamples = encoded.Count(e => e.Truncated);
        return encoded;
    }

    public SftResult Run(string modelDirectory, IReadOnlyList<SftRecord> records, string outputDirectory,
        Action<TrainingProgress>? progress = null, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        var tokenizer = HfTokenizer.FromFolder(modelDirectory);
        var examples = Encode(tokenizer, records);
        log?.Invoke($"{examples.Count} examples, {TruncatedExamples} cut to their last {Options.MaxSeqLen} tokens.");

        var plan = new SftBatchPlan(examples, Options.MicroBatchSize, Options.Epochs, Options.Seed, Options.Pack, Options.MaxSeqLen);
        var accumulation = Options.AccumulationSteps;
        var totalSteps = (plan.Count + accumulation - 1) / accumulation;
        var schedule = new CosineSchedule(Options.LearningRate, totalSteps, Options.WarmupRatio);

        var startStep = 0;
        var loadFrom = modelDirectory;
        string? resumeFolder = null;
        if (Options.Resume && TrainingCheckpoint.Latest(outputDirectory, "sft") is { } latest)
        {
            (resumeFolder, startStep) = latest;
            loadFrom = resumeFolder;
            log?.Invoke($"Resuming from {resumeFolder} at step {startStep}.");
        }

        var placement = Options.Placement ?? ModelPlacement.Default;
        var lora = Options.Lora;
        // With LoRA the base never changes: a checkpoint folder holds only the adapter, the base comes from the source.
        using var model = CausalLanguageModel.FromPretrained(lora is null ? loadFrom : modelDirectory, placement);
        model.train();
        List<(string name, TorchSharp.Modules.Parameter parameter)> trainable;
        if (lora is null)
        {
            trainable = model.named_parameters().ToList();
        }
        else
        {
            if (resumeFolder is not null)
            {
                LoraAdapters.Load(model, resumeFolder);
            }
            else
            {
                using var generator = new Generator((ulong)Options.Seed, placement.Device);
                LoraAdapters.Attach(model, lora, generator);
            }
            trainable = LoraAdapters.NamedParameters(model).Select(p => (p.Name, p.Parameter)).ToList();
            log?.Invoke($"LoRA r={lora.Rank} alpha={lora.Alpha} dropout={lora.Dropout} on {string.Join(",", lora.Targets)}: " +
                        $"{trainable.Sum(p => p.parameter.NumberOfElements):N0} trainable of {model.ParameterCount:N0} parameters.");
        }
        using var optimizer = AdamWGroups.Create(trainable, Options.LearningRate, Options.WeightDecay);
        if (resumeFolder is not null) TrainingCheckpoint.LoadOptimizer(optimizer, resumeFolder);

        using var metrics = new TrainingMetricsLog(outputDirectory, "sft", Options.Resume ? startStep : null);
        var padId = tokenizer.PadTokenId ?? model.Config.EosTokenIds.FirstOrDefault();
        var device = placement.Device;
        var parameters = trainable.Select(p => p.parameter).ToList();
        var lastLoss = double.NaN;
        double tokensPerSecond = 0;
        var endStep = Math.Min(totalSteps, Options.StopAfterStep ?? totalSteps);

        for (var step = startStep; step < endStep; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            // Reseeding from (seed, step) makes any randomness inside a step independent of where a run was resumed.
            torch.manual_seed(Options.Seed * 1_000_003L + step);
            var first = step * accumulation;
            var last = Math.Min(plan.Count, first + accumulation);
            long stepLabels = 0;
            for (var m = first; m < last; m++) stepLabels += plan.LabelTokens(m);
            optimizer.zero_grad();
            double lossSum = 0;
            long tokens = 0;
            for (var m = first; m < last; m++)
            {
                using var scope = NewDisposeScope();
                using var batch = plan.Materialise(m, device, padId);
                var loss = CausalLmLoss.SummedLoss(model, batch);
                lossSum += loss.item<float>();
                tokens += batch.Tokens;
                (loss / Math.Max(1, stepLabels)).backward();
            }
            var gradNorm = nn.utils.clip_grad_norm_(parameters, Options.MaxGradNorm);
            var lr = schedule.At(step);
            AdamWGroups.SetLearningRate(optimizer, lr);
            optimizer.step();
            clock.Stop();

            lastLoss = lossSum / Math.Max(1, stepLabels);
            tokensPerSecond = tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            var figures = new Dictionary<string, double>
            {
                ["loss"] = lastLoss, ["lr"] = lr, ["grad_norm"] = gradNorm, ["tokens"] = tokens,
                ["tokens_per_s"] = tokensPerSecond, ["epoch"] = (double)(step + 1) * accumulation * Options.Epochs / plan.Count,
            };
            metrics.Write(step, figures);
            progress?.Invoke(new TrainingProgress(step + 1, totalSteps, figures));

            if (Options.SaveEvery > 0 && (step + 1) % Options.SaveEvery == 0 && step + 1 < totalSteps)
            {
                var folder = TrainingCheckpoint.Folder(outputDirectory, step + 1);
                if (lora is null) SaveModel(model, modelDirectory, folder);
                else LoraAdapters.Save(model, lora, folder, Path.GetFullPath(modelDirectory));
                TrainingCheckpoint.SaveOptimizer(optimizer, folder);
                TrainingCheckpoint.WriteState(folder, step + 1, Options.Seed, "sft");
            }
        }

        var final = Path.Combine(outputDirectory, "model");
        if (endStep == totalSteps)
        {
            if (lora is not null)
            {
                // The adapter beside the model (a PEFT folder inside the model folder would make transformers load it
                // as an adapter of the base), then the merged weights as a plain Hugging Face model.
                LoraAdapters.Save(model, lora, Path.Combine(outputDirectory, "adapter"), Path.GetFullPath(modelDirectory));
                LoraAdapters.Merge(model);
            }
            SaveModel(model, modelDirectory, final);
        }
        return new SftResult(final, endStep, examples.Count, TruncatedExamples, lastLoss, tokensPerSecond);
    }

    private static void SaveModel(CausalLanguageModel model, string sourceDirectory, string folder)
    {
        model.SavePretrained(folder);
        ModelFolderFiles.CopyTokenizer(sourceDirectory, folder);
    }
}
