using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json.Serialization;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Modules;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Observability;
using HuatuoAspire.Training.Optimization;
using TorchSharp;
using static TorchSharp.torch;

namespace HuatuoAspire.Training.Sft;

/// <summary>SFT settings; the defaults are the reference hyper-parameters for real models. The JSON names are the trainer API's.</summary>
public sealed record SftOptions
{
    [JsonPropertyName("learning_rate"), Description("Peak learning rate.")] public double LearningRate { get; init; } = 5e-6;
    [JsonPropertyName("epochs")] public int Epochs { get; init; } = 3;
    /// <summary>Examples (or packed rows) per optimizer step: micro-batch × gradient-accumulation steps.</summary>
    [JsonPropertyName("batch_size"), Description("Examples per optimizer step.")] public int BatchSize { get; init; } = 128;
    [JsonPropertyName("micro_batch_size"), Description("Examples per forward pass (gradient accumulation makes up the rest).")] public int MicroBatchSize { get; init; } = 4;
    [JsonPropertyName("max_seq_len")] public int MaxSeqLen { get; init; } = 8192;
    [JsonIgnore] public double WeightDecay { get; init; } = 0.1;
    [JsonPropertyName("warmup_ratio")] public double WarmupRatio { get; init; } = 0.05;
    [JsonIgnore] public double MaxGradNorm { get; init; } = 1.0;
    [JsonPropertyName("seed")] public int Seed { get; init; } = 42;
    [JsonIgnore] public bool Pack { get; init; }
    /// <summary>Write a resumable checkpoint every N optimizer steps (0: only the final model).</summary>
    [JsonPropertyName("save_every"), Description("Checkpoint every N optimizer steps (0: only the final model).")] public int SaveEvery { get; init; }
    /// <summary>Stop after this many optimizer steps of the planned run (for tests of resume; null: run to the end).</summary>
    [JsonIgnore] public int? StopAfterStep { get; init; }
    [JsonIgnore] public bool Resume { get; init; }
    [JsonIgnore] public ModelPlacement? Placement { get; init; }
    /// <summary>LoRA rank (0: full fine-tuning). With LoRA the base weights are frozen and only the adapters train.</summary>
    [JsonPropertyName("lora_rank"), Description("LoRA rank (0: full fine-tuning). The base is frozen; out/model/ is the merged model, out/adapter/ the PEFT adapter.")]
    public int LoraRank { get; init; }
    [JsonPropertyName("lora_alpha"), Description("LoRA alpha (scaling = alpha / rank).")] public double LoraAlpha { get; init; } = 16;
    [JsonPropertyName("lora_dropout"), Description("Dropout on the adapter input while training.")] public double LoraDropout { get; init; } = 0.05;
    [JsonPropertyName("lora_targets"), Description("Projection names to adapt.")] public IReadOnlyList<string> LoraTargets { get; init; } = LoraSettings.DefaultTargets;

    /// <summary>The LoRA settings, or null when LoRA is off.</summary>
    [JsonIgnore] public LoraSettings? Lora => LoraRank > 0 ? new LoraSettings(LoraRank, LoraAlpha, LoraDropout, LoraTargets) : null;

    [JsonIgnore] public int AccumulationSteps => Math.Max(1, BatchSize / Math.Max(1, MicroBatchSize));

    /// <summary>Every problem with these options, one message each, named as the API names the fields.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (!(LearningRate > 0)) problems.Add($"learning_rate must be > 0 (got {LearningRate}).");
        if (Epochs < 1) problems.Add($"epochs must be >= 1 (got {Epochs}).");
        // A batch that is not a multiple would silently train on a smaller one (BatchSize / MicroBatchSize rounds down).
        if (BatchSize < 1 || MicroBatchSize < 1 || BatchSize % MicroBatchSize != 0)
            problems.Add($"batch_size must be a positive multiple of micro_batch_size (got {BatchSize} and {MicroBatchSize}).");
        if (!(WarmupRatio is >= 0 and <= 1)) problems.Add($"warmup_ratio must be in [0, 1] (a fraction of the steps), got {WarmupRatio}.");
        if (MaxSeqLen < 8) problems.Add($"max_seq_len must be >= 8 (got {MaxSeqLen}).");
        if (LoraRank < 0) problems.Add($"lora_rank must be >= 0 (0: full fine-tuning), got {LoraRank}.");
        if (Lora is { } lora)
        {
            try
            {
                lora.Validate();
            }
            catch (ArgumentException e)
            {
                problems.Add(e.Message);
            }
        }
        return problems;
    }

    /// <summary>An <see cref="ArgumentException"/> naming every problem, if there is one.</summary>
    public void Validate()
    {
        var problems = Problems();
        if (problems.Count > 0) throw new ArgumentException(string.Join(" ", problems));
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
        // Nothing in the run awaits anything but this synchronous report: the task has completed when RunAsync returns.
        var run = RunAsync(modelDirectory, records, outputDirectory, p =>
        {
            progress?.Invoke(p);
            return Task.CompletedTask;
        }, log, cancellationToken);
        return run.GetAwaiter().GetResult();
    }

    /// <summary>The run, with <paramref name="progress"/> awaited after every optimizer step, before the step's checkpoint and the next step.</summary>
    public async Task<SftResult> RunAsync(string modelDirectory, IReadOnlyList<SftRecord> records, string outputDirectory,
        Func<TrainingProgress, Task> progress, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        var tokenizer = HfTokenizer.FromFolder(modelDirectory);
        var examples = Encode(tokenizer, records);
        log?.Invoke($"{examples.Count} examples, {TruncatedExamples} cut to their last {Options.MaxSeqLen} tokens.");

        var plan = new SftBatchPlan(examples, Options.MicroBatchSize, Options.Epochs, Options.Seed, Options.Pack, Options.MaxSeqLen);
        var accumulation = Options.AccumulationSteps;
        var totalSteps = (plan.Count + accumulation - 1) / accumulation;
        var schedule = new CosineSchedule(Options.LearningRate, totalSteps, Options.WarmupRatio);
        var (resumeFolder, startStep) = FindResumePoint(outputDirectory, log);

        var placement = Options.Placement ?? ModelPlacement.Default;
        var lora = Options.Lora;
        // With LoRA the base never changes: a checkpoint folder holds only the adapter, the base comes from the source.
        using var model = CausalLanguageModel.FromPretrained(lora is null ? resumeFolder ?? modelDirectory : modelDirectory, placement);
        model.train();
        var trainable = TrainableParameters(model, lora, resumeFolder, placement, log);
        using var optimizer = AdamWGroups.Create(trainable, Options.LearningRate, Options.WeightDecay);
        if (resumeFolder is not null) TrainingCheckpoint.LoadOptimizer(optimizer, resumeFolder);

        using var metrics = new TrainingMetricsLog(outputDirectory, "sft", Options.Resume ? startStep : null);
        var padId = tokenizer.PadTokenId ?? model.Config.EosTokenIds.FirstOrDefault();
        var parameters = trainable.Select(p => p.parameter).ToList();
        var lastLoss = double.NaN;
        double tokensPerSecond = 0;
        var endStep = Math.Min(totalSteps, Options.StopAfterStep ?? totalSteps);

        for (var step = startStep; step < endStep; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var figures = TrainStep(model, optimizer, parameters, plan, schedule, step, placement.Device, padId);
            (lastLoss, tokensPerSecond) = (figures["loss"], figures["tokens_per_s"]);
            metrics.Write(step, figures);
            await progress(new TrainingProgress(step + 1, totalSteps, figures)).ConfigureAwait(false);

            if (Options.SaveEvery > 0 && (step + 1) % Options.SaveEvery == 0 && step + 1 < totalSteps)
                SaveCheckpoint(model, optimizer, lora, modelDirectory, TrainingCheckpoint.Folder(outputDirectory, step + 1), step + 1);
        }

        var final = Path.Combine(outputDirectory, "model");
        if (endStep == totalSteps) SaveFinalModel(model, lora, modelDirectory, outputDirectory, final);
        return new SftResult(final, endStep, examples.Count, TruncatedExamples, lastLoss, tokensPerSecond);
    }

    /// <summary>The newest checkpoint to resume from and its step, or (null, 0) for a fresh run.</summary>
    private (string? Folder, int Step) FindResumePoint(string outputDirectory, Action<string>? log)
    {
        if (!Options.Resume || TrainingCheckpoint.Latest(outputDirectory, "sft") is not { } latest) return (null, 0);
        var (folder, step) = latest;
        log?.Invoke($"Resuming from {folder} at step {step}.");
        return (folder, step);
    }

    /// <summary>Every weight of the model, or (with LoRA) the adapters, attached fresh or loaded from the checkpoint.</summary>
    private List<(string name, TorchSharp.Modules.Parameter parameter)> TrainableParameters(CausalLanguageModel model, LoraSettings? lora,
        string? resumeFolder, ModelPlacement placement, Action<string>? log)
    {
        if (lora is null) return model.named_parameters().ToList();
        if (resumeFolder is not null)
        {
            LoraAdapters.Load(model, resumeFolder);
        }
        else
        {
            using var generator = new Generator((ulong)Options.Seed, placement.Device);
            LoraAdapters.Attach(model, lora, generator);
        }
        var trainable = LoraAdapters.NamedParameters(model).Select(p => (p.Name, p.Parameter)).ToList();
        log?.Invoke($"LoRA r={lora.Rank} alpha={lora.Alpha} dropout={lora.Dropout} on {string.Join(",", lora.Targets)}: " +
                    $"{trainable.Sum(p => p.Parameter.NumberOfElements):N0} trainable of {model.ParameterCount:N0} parameters.");
        return trainable;
    }

    /// <summary>One optimizer step over its micro-batches (gradient accumulation); returns the step's figures.</summary>
    private Dictionary<string, double> TrainStep(CausalLanguageModel model, TorchSharp.Modules.AdamW optimizer, List<TorchSharp.Modules.Parameter> parameters,
        SftBatchPlan plan, CosineSchedule schedule, int step, Device device, int padId)
    {
        var accumulation = Options.AccumulationSteps;
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

        return new Dictionary<string, double>
        {
            ["loss"] = lossSum / Math.Max(1, stepLabels), ["lr"] = lr, ["grad_norm"] = gradNorm, ["tokens"] = tokens,
            ["tokens_per_s"] = tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds), ["epoch"] = (double)(step + 1) * accumulation * Options.Epochs / plan.Count,
        };
    }

    /// <summary>A resumable checkpoint: the model (with LoRA only the adapter), the optimizer state and the step.</summary>
    private void SaveCheckpoint(CausalLanguageModel model, TorchSharp.Modules.AdamW optimizer, LoraSettings? lora, string modelDirectory, string folder, int nextStep)
    {
        if (lora is null) SaveModel(model, modelDirectory, folder);
        else LoraAdapters.Save(model, lora, folder, Path.GetFullPath(modelDirectory));
        TrainingCheckpoint.SaveOptimizer(optimizer, folder);
        TrainingCheckpoint.WriteState(folder, nextStep, Options.Seed, "sft");
    }

    private static void SaveFinalModel(CausalLanguageModel model, LoraSettings? lora, string modelDirectory, string outputDirectory, string final)
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

    private static void SaveModel(CausalLanguageModel model, string sourceDirectory, string folder)
    {
        model.SavePretrained(folder);
        ModelFolderFiles.CopyTokenizer(sourceDirectory, folder);
    }
}
