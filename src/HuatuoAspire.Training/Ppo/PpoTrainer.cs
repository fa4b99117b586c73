using System.ComponentModel;
using HuatuoAspire.Domain;
using HuatuoAspire.Domain.Reward;
using System.Diagnostics;
using System.Text.Json.Serialization;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Observability;
using HuatuoAspire.Training.Optimization;
using HuatuoAspire.Training.Scoring;
using HuatuoAspire.Training.Sft;
using TorchSharp;
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace HuatuoAspire.Training.Ppo;

/// <summary>
/// PPO settings; the defaults follow the reference's stage-2 command (README of FreedomIntelligence/HuatuoGPT-o1,
/// RL_stage2.py): 3 PPO epochs, a rollout batch of 16 (1 per device × 16 accumulation steps × 1 mini-batch) taken as
/// one mini-batch, responses up to 1300 tokens, lr 5e-7 with a 0.05 linear warm-up and linear decay, β 0.03,
/// temperature 0.5, and 10 % of the prompts (at most 200) held out. The JSON names are the trainer API's.
/// </summary>
public sealed record PpoOptions
{
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; } = 5e-7;
    [JsonPropertyName("value_learning_rate")] public double ValueLearningRate { get; init; } = 5e-7;
    [JsonPropertyName("kl_coef")] public double KlCoefficient { get; init; } = 0.03;
    [JsonPropertyName("gamma")] public double Gamma { get; init; } = 1.0;
    [JsonPropertyName("lambda")] public double Lambda { get; init; } = 0.95;
    [JsonPropertyName("clip_range")] public double ClipRange { get; init; } = 0.2;
    [JsonPropertyName("value_clip_range")] public double ValueClipRange { get; init; } = 0.2;
    [JsonIgnore] public double ValueCoefficient { get; init; } = 0.1;
    [JsonPropertyName("ppo_epochs")] public int PpoEpochs { get; init; } = 3;
    /// <summary>Prompts sampled per PPO iteration (then PpoEpochs × ⌈this / MiniBatchSize⌉ optimizer steps, one metrics.jsonl line each).</summary>
    [JsonPropertyName("rollout_batch_size"), Description("Prompts per iteration.")] public int RolloutBatchSize { get; init; } = 16;
    /// <summary>
    /// Responses sampled for each prompt of an iteration (OpenRLHF's <c>n_samples_per_prompt</c>): with several, the
    /// right and wrong answers to one question differ exactly at the tokens that decide it, which is where the
    /// advantage then pushes.
    /// </summary>
    [JsonPropertyName("samples_per_prompt"), Description("Responses sampled per prompt.")] public int SamplesPerPrompt { get; init; } = 1;
    /// <summary>Responses per optimizer step; the reference's num_mini_batches 1 makes it the whole rollout batch.</summary>
    [JsonPropertyName("mini_batch_size")] public int MiniBatchSize { get; init; } = 16;
    /// <summary>
    /// Fraction of the rollout iterations over which both learning rates rise linearly to their peak, before they
    /// decay linearly to zero at the last iteration (<see cref="LinearSchedule"/>; the reference's warmup_ratio).
    /// </summary>
    [JsonPropertyName("warmup_ratio"), Description("Linear warm-up over this fraction of the rollout iterations, then linear decay to zero.")]
    public double WarmupRatio { get; init; } = 0.05;
    /// <summary>False: both learning rates stay at their peak throughout (the CPU demo's setting).</summary>
    [JsonIgnore] public bool ScheduleLearningRate { get; init; } = true;
    /// <summary>Fraction of the prompts held out of training (shuffled with the seed), as the reference's eval_ratio.</summary>
    [JsonPropertyName("eval_fraction"), Description("Fraction of the prompts held out (at most 200) and scored at the end.")] public double EvalFraction { get; init; } = 0.1;
    /// <summary>At most this many held-out prompts (the reference's eval_max_num).</summary>
    [JsonIgnore] public int MaxEvalPrompts { get; init; } = 200;
    /// <summary>
    /// Rollout iterations at the start in which only the value model learns and the policy stays as it is (OpenRLHF's
    /// <c>freezing_actor_steps</c>): a value head fresh on the checkpoint makes per-token advantages of noise, and a
    /// policy that follows them drifts before the value has learned anything.
    /// </summary>
    [JsonPropertyName("value_warmup_iterations"), Description("Rollout iterations at the start in which only the value model learns.")]
    public int ValueWarmupIterations { get; init; }
    [JsonPropertyName("epochs"), Description("Passes over the prompts.")] public int Epochs { get; init; } = 1;
    [JsonPropertyName("temperature")] public double Temperature { get; init; } = 0.5;
    [JsonPropertyName("response_length")] public int MaxNewTokens { get; init; } = 1300;
    [JsonIgnore] public double MaxGradNorm { get; init; } = 1.0;
    [JsonPropertyName("seed")] public int Seed { get; init; } = 42;
    /// <summary>Write a resumable checkpoint every N rollout iterations (0: only the final model).</summary>
    [JsonPropertyName("save_every"), Description("Checkpoint every N rollout iterations (0: only the final folders).")] public int SaveEvery { get; init; }
    /// <summary>Stop after this many rollout iterations of the planned run (for tests of resume; null: run to the end).</summary>
    [JsonIgnore] public int? StopAfterIteration { get; init; }
    [JsonIgnore] public bool Resume { get; init; }
    [JsonIgnore] public ModelPlacement? Placement { get; init; }

    /// <summary>Every problem with these options, one message each, named as the API names the fields.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (!(LearningRate > 0) || !(ValueLearningRate > 0)) problems.Add("learning_rate and value_learning_rate must be > 0.");
        if (!(KlCoefficient >= 0)) problems.Add("kl_coef must be >= 0.");
        if (!(Lambda is >= 0 and <= 1) || !(Gamma is >= 0 and <= 1)) problems.Add($"gamma and lambda must be in [0, 1] (got gamma {Gamma}, lambda {Lambda}).");
        if (!(ClipRange > 0) || !(ValueClipRange > 0)) problems.Add("clip_range and value_clip_range must be > 0.");
        if (PpoEpochs < 1 || Epochs < 1) problems.Add("ppo_epochs and epochs must be >= 1.");
        if (RolloutBatchSize < 1 || MiniBatchSize < 1 || SamplesPerPrompt < 1) problems.Add("rollout_batch_size, samples_per_prompt and mini_batch_size must be >= 1.");
        if (ValueWarmupIterations < 0) problems.Add($"value_warmup_iterations must be >= 0 (got {ValueWarmupIterations}).");
        if (!(Temperature > 0)) problems.Add($"temperature must be > 0 (got {Temperature}).");
        if (MaxNewTokens < 1) problems.Add("response_length must be >= 1.");
        if (!(WarmupRatio is >= 0 and <= 1)) problems.Add($"warmup_ratio must be in [0, 1] (a fraction of the rollout iterations), got {WarmupRatio}.");
        if (!(EvalFraction is >= 0 and < 1)) problems.Add($"eval_fraction must be in [0, 1), got {EvalFraction}.");
        if (MaxEvalPrompts < 0) problems.Add($"the held-out prompt limit must be >= 0 (got {MaxEvalPrompts}).");
        return problems;
    }

    /// <summary>An <see cref="ArgumentException"/> naming every problem, if there is one.</summary>
    public void Validate()
    {
        var problems = Problems();
        if (problems.Count > 0) throw new ArgumentException(string.Join(" ", problems));
    }

    /// <summary>
    /// The reference's split: shuffle, hold out min(⌊n × fraction⌋, max) prompts, train on the rest. The shuffle is
    /// seeded so that a resumed run holds out the same prompts.
    /// </summary>
    public (IReadOnlyList<PpoRecord> Train, IReadOnlyList<PpoRecord> Eval) Split(IReadOnlyList<PpoRecord> records)
    {
        var evalCount = Math.Min((int)(records.Count * EvalFraction), MaxEvalPrompts);
        if (evalCount == 0) return (records, []);
        var order = Enumerable.Range(0, records.Count).ToArray();
        new Random(StableSeed.Combine(Seed, 0x5EED_E7A1)).Shuffle(order);
        return (order.Skip(evalCount).Select(i => records[i]).ToList(), order.Take(evalCount).Select(i => records[i]).ToList());
    }
}

/// <summary>The outcome of a PPO run: <paramref name="Steps"/> optimizer steps over <paramref name="Iterations"/> rollout batches.
/// <paramref name="HeldOut"/> is the final policy's score on the held-out prompts (null when none were held out or the run stopped early).</summary>
public sealed record PpoResult(string ModelDirectory, string ValueDirectory, int Steps, int Iterations, double FinalMeanReward, PolicyScore? HeldOut = null);

/// <summary>
/// Stage 2: PPO with verifier rewards. Per iteration: sample responses to a batch of prompts (recording log-probs),
/// score them with <see cref="HuatuoReward"/>, compute reference log-probs and values, per-token rewards
/// −β·(log π − log π_ref) plus the score on the last token, GAE advantages (whitened) and returns; then several
/// epochs of clipped policy and clipped value updates over shuffled mini-batches.
/// </summary>
public sealed class PpoTrainer(PpoOptions options, HuatuoReward reward)
{
    public PpoOptions Options { get; } = options;
    public HuatuoReward Reward { get; } = reward;

    public Task<PpoResult> RunAsync(string policyDirectory, string valueDirectory, IReadOnlyList<PpoRecord> allRecords, string outputDirectory,
        Action<TrainingProgress>? progress = null, Action<string>? log = null, CancellationToken cancellationToken = default) =>
        RunAsync(policyDirectory, valueDirectory, allRecords, outputDirectory, p =>
        {
            progress?.Invoke(p);
            return Task.CompletedTask;
        }, log, cancellationToken);

    /// <summary>The run, with <paramref name="progress"/> awaited after every optimizer step, before the next step or checkpoint.</summary>
    public async Task<PpoResult> RunAsync(string policyDirectory, string valueDirectory, IReadOnlyList<PpoRecord> allRecords, string outputDirectory,
        Func<TrainingProgress, Task> progress, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        if (allRecords.Count == 0) throw new ArgumentException("No PPO prompts.", nameof(allRecords));
        var (records, heldOut) = Options.Split(allRecords);
        if (heldOut.Count > 0) log?.Invoke($"{heldOut.Count} of {allRecords.Count} prompts held out for evaluation; training on {records.Count}.");
        var tokenizer = HfTokenizer.FromFolder(policyDirectory);
        var encoder = new SftExampleEncoder(tokenizer, int.MaxValue);
        var prompts = records.Select(r => encoder.EncodePrompt(r.Question)).ToList();

        var plan = PlanIterations(records.Count);
        var (resume, startIteration) = FindResumePoint(outputDirectory, plan, log);
        using var models = PpoModels.Load(policyDirectory, valueDirectory, resume, Options);
        using var metrics = new TrainingMetricsLog(outputDirectory, "ppo", Options.Resume ? plan.Offsets[startIteration] : null);
        var run = new PpoRun(models, tokenizer, records, prompts, plan, metrics, progress);
        var endIteration = Math.Min(plan.Iterations, Options.StopAfterIteration ?? plan.Iterations);
        double lastReward = double.NaN;

        for (var iteration = startIteration; iteration < endIteration; iteration++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            lastReward = await RunIterationAsync(run, iteration, cancellationToken).ConfigureAwait(false);
            if (Options.SaveEvery > 0 && (iteration + 1) % Options.SaveEvery == 0 && iteration + 1 < plan.Iterations)
                SaveCheckpoint(models, policyDirectory, TrainingCheckpoint.Folder(outputDirectory, plan.Offsets[iteration + 1]), plan.Offsets[iteration + 1]);
        }
        var final = Path.Combine(outputDirectory, "model");
        var finalValue = Path.Combine(outputDirectory, "value");
        PolicyScore? heldOutScore = null;
        if (endIteration == plan.Iterations)
        {
            SaveFinalModels(models, policyDirectory, final, finalValue);
            if (heldOut.Count > 0) heldOutScore = await ScoreHeldOutAsync(models.Policy, tokenizer, heldOut, log, cancellationToken).ConfigureAwait(false);
        }
        return new PpoResult(final, finalValue, plan.Offsets[endIteration], endIteration, lastReward, heldOutScore);
    }

    /// <summary>
    /// An iteration samples one rollout batch and then takes PpoEpochs × ⌈batch / mini-batch⌉ optimizer steps; steps
    /// (metrics.jsonl lines, progress, checkpoint names) count optimizer steps, and Offsets[i] is the first of iteration i.
    /// The learning rates are scheduled per iteration.
    /// </summary>
    private sealed record IterationPlan(int PerEpoch, int Iterations, int[] Offsets, LinearSchedule PolicySchedule, LinearSchedule ValueSchedule)
    {
        public int TotalSteps => Offsets[Iterations];
    }

    private IterationPlan PlanIterations(int recordCount)
    {
        var perEpoch = (recordCount + Options.RolloutBatchSize - 1) / Options.RolloutBatchSize;
        var iterations = perEpoch * Options.Epochs;
        var offsets = new int[iterations + 1];
        for (var i = 0; i < iterations; i++)
        {
            var batch = Math.Min(Options.RolloutBatchSize, recordCount - i % perEpoch * Options.RolloutBatchSize) * Options.SamplesPerPrompt;
            offsets[i + 1] = offsets[i] + Options.PpoEpochs * ((batch + Options.MiniBatchSize - 1) / Options.MiniBatchSize);
        }
        // Without a schedule: zero steps make LinearSchedule a constant.
        var scheduled = Options.ScheduleLearningRate ? iterations : 0;
        return new IterationPlan(perEpoch, iterations, offsets,
            new LinearSchedule(Options.LearningRate, scheduled, Options.WarmupRatio),
            new LinearSchedule(Options.ValueLearningRate, scheduled, Options.WarmupRatio));
    }

    /// <summary>The newest checkpoint to resume from and its iteration, or (null, 0) for a fresh run.</summary>
    private (string? Folder, int Iteration) FindResumePoint(string outputDirectory, IterationPlan plan, Action<string>? log)
    {
        if (!Options.Resume || TrainingCheckpoint.Latest(outputDirectory, "ppo") is not { } latest) return (null, 0);
        var (folder, nextStep) = latest;
        var iteration = Array.IndexOf(plan.Offsets, nextStep);
        if (iteration < 0)
            throw new InvalidDataException($"{folder}: step {nextStep} is not the end of a rollout iteration of this run's settings (prompts, batch sizes, PPO epochs).");
        log?.Invoke($"Resuming from {folder} at step {nextStep} (iteration {iteration}).");
        return (folder, iteration);
    }

    /// <summary>The policy, its frozen reference, the value model and both optimizers, loaded from the sources or a checkpoint.</summary>
    private sealed class PpoModels : IDisposable
    {
        public required CausalLanguageModel Policy { get; init; }
        public required CausalLanguageModel Reference { get; init; }
        public required SequenceScoringModel Value { get; init; }
        public required AdamW PolicyOptimizer { get; init; }
        public required AdamW ValueOptimizer { get; init; }

        public static PpoModels Load(string policyDirectory, string valueDirectory, string? resume, PpoOptions options)
        {
            var placement = options.Placement ?? ModelPlacement.Default;
            var loaded = new List<IDisposable>();
            T Keep<T>(T item) where T : IDisposable
            {
                loaded.Add(item);
                return item;
            }
            try
            {
                var policy = Keep(CausalLanguageModel.FromPretrained(resume is null ? policyDirectory : Path.Combine(resume, "policy"), placement));
                var reference = Keep(CausalLanguageModel.FromPretrained(policyDirectory, placement));
                foreach (var p in reference.parameters()) p.requires_grad = false;
                var value = Keep(SequenceScoringModel.FromPretrained(resume is null ? valueDirectory : Path.Combine(resume, "value"), 1, placement));
                var policyOptimizer = Keep(AdamWGroups.Create(policy.named_parameters(), options.LearningRate, 0));
                var valueOptimizer = Keep(AdamWGroups.Create(value.named_parameters(), options.ValueLearningRate, 0));
                if (resume is not null)
                {
                    TrainingCheckpoint.LoadOptimizer(policyOptimizer, resume, "policy_optimizer");
                    TrainingCheckpoint.LoadOptimizer(valueOptimizer, resume, "value_optimizer");
                }
                return new PpoModels
                {
                    Policy = policy, Reference = reference, Value = value, PolicyOptimizer = policyOptimizer, ValueOptimizer = valueOptimizer,
                };
            }
            catch
            {
                // What loaded before the failure holds native memory: freed now, newest first, as the run would.
                for (var i = loaded.Count - 1; i >= 0; i--) loaded[i].Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            ValueOptimizer.Dispose();
            PolicyOptimizer.Dispose();
            Value.Dispose();
            Reference.Dispose();
            Policy.Dispose();
        }
    }

    /// <summary>What every iteration of one run works on.</summary>
    private sealed record PpoRun(PpoModels Models, HfTokenizer Tokenizer, IReadOnlyList<PpoRecord> Records, IReadOnlyList<IReadOnlyList<int>> Prompts,
        IterationPlan Plan, TrainingMetricsLog Metrics, Func<TrainingProgress, Task> Progress);

    /// <summary>One rollout batch: sample and score responses, update both models, write a line per optimizer step. Returns the batch's mean reward.</summary>
    private async Task<double> RunIterationAsync(PpoRun run, int iteration, CancellationToken ct)
    {
        var (models, plan) = (run.Models, run.Plan);
        var clock = Stopwatch.StartNew();
        torch.manual_seed(Options.Seed * 1_000_003L + iteration);
        var chosen = ChoosePrompts(plan, run.Records.Count, iteration);

        models.Policy.eval();
        var rollouts = RolloutSampler.Sample(models.Policy, run.Tokenizer, chosen.Select(i => run.Prompts[i]).ToList(),
            Options.Temperature, Options.MaxNewTokens, chosen.Select((i, k) => StableSeed.Combine(Options.Seed, iteration, k)).ToList());
        var scores = new RewardResult[rollouts.Count];
        for (var k = 0; k < rollouts.Count; k++)
            scores[k] = await Reward.ScoreAsync(rollouts[k].Text, run.Records[chosen[k]].GroundTruth, ct).ConfigureAwait(false);
        models.Policy.train();
        AdamWGroups.SetLearningRate(models.PolicyOptimizer, plan.PolicySchedule.At(iteration));
        AdamWGroups.SetLearningRate(models.ValueOptimizer, plan.ValueSchedule.At(iteration));

        var updates = new List<Dictionary<string, double>>();
        var averaged = Update(models.Policy, models.Reference, models.Value, models.PolicyOptimizer, models.ValueOptimizer, rollouts, scores,
            run.Tokenizer.PadTokenId ?? 0, updates, trainPolicy: iteration >= Options.ValueWarmupIterations);
        clock.Stop();
        var batchFigures = BatchFigures(rollouts, scores, averaged, plan.PolicySchedule.At(iteration), clock.Elapsed, iteration);
        await WriteStepsAsync(run, plan.Offsets[iteration], updates, batchFigures).ConfigureAwait(false);
        return batchFigures["reward"];
    }

    /// <summary>The prompts of an iteration: its slice of the epoch's seeded shuffle, each repeated SamplesPerPrompt times.</summary>
    private int[] ChoosePrompts(IterationPlan plan, int recordCount, int iteration)
    {
        var epoch = iteration / plan.PerEpoch;
        var order = Enumerable.Range(0, recordCount).ToArray();
        new Random(StableSeed.Combine(Options.Seed, epoch)).Shuffle(order);
        return order.Skip(iteration % plan.PerEpoch * Options.RolloutBatchSize).Take(Options.RolloutBatchSize)
            .SelectMany(i => Enumerable.Repeat(i, Options.SamplesPerPrompt)).ToArray();
    }

    /// <summary>The rollout batch's figures, which go on each of its optimizer steps' lines beside that step's own losses.</summary>
    private static Dictionary<string, double> BatchFigures(IReadOnlyList<Rollout> rollouts, RewardResult[] scores, Dictionary<string, double> averaged,
        double learningRate, TimeSpan elapsed, int iteration)
    {
        var tokens = rollouts.Sum(r => r.PromptIds.Length + r.ResponseIds.Length);
        return new Dictionary<string, double>
        {
            ["reward"] = scores.Average(s => s.Reward),
            ["correct_fraction"] = scores.Count(s => s.Correct) / (double)scores.Length,
            ["well_formed_fraction"] = scores.Count(s => s.WellFormed) / (double)scores.Length,
            ["kl"] = averaged["kl"],
            ["response_length"] = rollouts.Average(r => r.ResponseIds.Length),
            ["lr"] = learningRate,
            ["tokens_per_s"] = tokens / Math.Max(1e-9, elapsed.TotalSeconds),
            ["iteration"] = iteration,
        };
    }

    /// <summary>One metrics line and one progress report per optimizer step of the iteration starting at <paramref name="firstStep"/>.</summary>
    private static async Task WriteStepsAsync(PpoRun run, int firstStep, List<Dictionary<string, double>> updates, Dictionary<string, double> batchFigures)
    {
        for (var u = 0; u < updates.Count; u++)
        {
            var figures = new Dictionary<string, double>(updates[u]);
            foreach (var (name, figure) in batchFigures) figures[name] = figure;
            var step = firstStep + u;
            run.Metrics.Write(step, figures);
            await run.Progress(new TrainingProgress(step + 1, run.Plan.TotalSteps, figures)).ConfigureAwait(false);
        }
    }

    /// <summary>A resumable checkpoint: both models, both optimizer states and the step to continue from.</summary>
    private void SaveCheckpoint(PpoModels models, string policyDirectory, string folder, int nextStep)
    {
        SavePolicy(models.Policy, policyDirectory, Path.Combine(folder, "policy"));
        models.Value.SavePretrained(Path.Combine(folder, "value"));
        TrainingCheckpoint.SaveOptimizer(models.PolicyOptimizer, folder, "policy_optimizer");
        TrainingCheckpoint.SaveOptimizer(models.ValueOptimizer, folder, "value_optimizer");
        TrainingCheckpoint.WriteState(folder, nextStep, Options.Seed, "ppo");
    }

    private static void SaveFinalModels(PpoModels models, string policyDirectory, string final, string finalValue)
    {
        SavePolicy(models.Policy, policyDirectory, final);
        models.Value.SavePretrained(finalValue);
        ModelFolderFiles.CopyTokenizer(policyDirectory, finalValue);
    }

    /// <summary>The final policy's score on the held-out prompts.</summary>
    private async Task<PolicyScore> ScoreHeldOutAsync(CausalLanguageModel policy, HfTokenizer tokenizer, IReadOnlyList<PpoRecord> heldOut,
        Action<string>? log, CancellationToken ct)
    {
        var score = await PolicyEvaluation.ScoreAsync(policy, tokenizer, heldOut, Reward, Options.Temperature, Options.MaxNewTokens,
            Options.Seed, ct).ConfigureAwait(false);
        log?.Invoke($"Held-out ({heldOut.Count} prompts): mean reward {score.MeanReward:0.000}, accepted {score.Accuracy:P1}, well formed {score.WellFormed:P1}.");
        return score;
    }

    private static void SavePolicy(CausalLanguageModel policy, string source, string folder)
    {
        policy.SavePretrained(folder);
        ModelFolderFiles.CopyTokenizer(source, folder);
    }

    /// <summary>One PPO update on a batch of scored rollouts; returns the averaged loss figures.</summary>
    internal Dictionary<string, double> Update(CausalLanguageModel policy, CausalLanguageModel reference, SequenceScoringModel value,
        AdamW policyOptimizer, AdamW valueOptimizer, IReadOnlyList<Rollout> rollouts, IReadOnlyList<RewardResult> scores, int padId,
        List<Dictionary<string, double>>? perUpdate = null, bool trainPolicy = true)
    {
        var packed = PackedRollouts.Pack(rollouts, padId);
        var (n, width) = (packed.Count, packed.Width);
        var device = policy.Placement.Device;
        using var scope = NewDisposeScope();
        var idsT = tensor(packed.Ids, [n, width], device: device);
        var maskT = tensor(packed.Attention, [n, width], device: device);
        var (refLp, oldValues) = ReferenceLogProbsAndValues(reference, value, idsT, maskT, width);
        var (advantages, returns, klSum) = AdvantagesAndReturns(rollouts, scores, packed, refLp, oldValues);

        var batch = new UpdateBatch(
            idsT, maskT,
            ResponseMask: tensor(packed.ResponseMask, [n, width - 1], device: device),
            OldLogProbs: tensor(packed.OldLogProbs, [n, width - 1], device: device),
            Advantages: tensor(advantages, [n, width - 1], device: device),
            Returns: tensor(returns, [n, width - 1], device: device),
            OldValues: tensor(oldValues, [n, width - 1], device: device),
            width);
        double policyLoss = 0, valueLoss = 0, clipFraction = 0, entropy = 0;
        var updates = 0;
        var random = new Random(StableSeed.Combine(Options.Seed, n, width));
        var policyParameters = policy.parameters().ToList();
        var valueParameters = value.parameters().ToList();
        for (var epoch = 0; epoch < Options.PpoEpochs; epoch++)
        {
            var order = Enumerable.Range(0, n).ToArray();
            random.Shuffle(order);
            for (var s = 0; s < n; s += Options.MiniBatchSize)
            {
                var figures = MiniBatchStep(policy, value, policyOptimizer, valueOptimizer, policyParameters, valueParameters, batch,
                    order.Skip(s).Take(Options.MiniBatchSize).Select(i => (long)i).ToArray(), device, trainPolicy);
                policyLoss += figures["policy_loss"];
                valueLoss += figures["value_loss"];
                clipFraction += figures["clip_fraction"];
                entropy += figures["entropy"];
                perUpdate?.Add(figures);
                updates++;
            }
        }
        return new Dictionary<string, double>
        {
            ["policy_loss"] = policyLoss / updates,
            ["value_loss"] = valueLoss / updates,
            ["clip_fraction"] = clipFraction / updates,
            ["entropy"] = entropy / updates,
            ["kl"] = klSum / n,
        };
    }

    /// <summary>The rollouts of an update side by side, padded to the longest; index t of the shifted arrays [N, width−1] is the prediction of token t+1.</summary>
    private sealed record PackedRollouts(int Count, int Width, long[] Ids, long[] Attention, float[] ResponseMask, float[] OldLogProbs)
    {
        public static PackedRollouts Pack(IReadOnlyList<Rollout> rollouts, int padId)
        {
            var n = rollouts.Count;
            var width = rollouts.Max(r => r.PromptIds.Length + r.ResponseIds.Length);
            var ids = new long[n * width];
            var attention = new long[n * width];
            var responseMask = new float[n * (width - 1)];
            var oldLogProbs = new float[n * (width - 1)];
            Array.Fill(ids, padId);
            for (var r = 0; r < n; r++)
            {
                var rollout = rollouts[r];
                var all = rollout.PromptIds.Concat(rollout.ResponseIds).ToArray();
                for (var t = 0; t < all.Length; t++) { ids[r * width + t] = all[t]; attention[r * width + t] = 1; }
                for (var j = 0; j < rollout.ResponseIds.Length; j++)
                {
                    var t = rollout.PromptIds.Length + j - 1;
                    responseMask[r * (width - 1) + t] = 1;
                    oldLogProbs[r * (width - 1) + t] = rollout.LogProbs[j];
                }
            }
            return new PackedRollouts(n, width, ids, attention, responseMask, oldLogProbs);
        }
    }

    /// <summary>The tensors every mini-batch of an update selects its rows from ([N, width−1] but Ids and Mask).</summary>
    private sealed record UpdateBatch(Tensor Ids, Tensor Mask, Tensor ResponseMask, Tensor OldLogProbs, Tensor Advantages, Tensor Returns, Tensor OldValues, int Width);

    /// <summary>The frozen reference's log-probabilities of the sampled tokens and the value model's estimates, before any update.</summary>
    private (float[] ReferenceLogProbs, float[] OldValues) ReferenceLogProbsAndValues(CausalLanguageModel reference, SequenceScoringModel value,
        Tensor ids, Tensor mask, int width)
    {
        using (no_grad())
        {
            var targets = ids.narrow(1, 1, width - 1);
            var refLp = TokenLogProbs(reference.ForwardLogits(ids, mask), targets, Options.Temperature).cpu().data<float>().ToArray();
            var oldValues = value.forward(ids, mask).squeeze(-1).narrow(1, 0, width - 1).to(ScalarType.Float32).cpu().data<float>().ToArray();
            return (refLp, oldValues);
        }
    }

    /// <summary>
    /// Per-token KL penalty, the score on each response's last token, then GAE along each response; the advantages
    /// whitened over the response tokens of the batch. Also the summed KL to the reference.
    /// </summary>
    private (float[] Advantages, float[] Returns, double KlSum) AdvantagesAndReturns(IReadOnlyList<Rollout> rollouts, IReadOnlyList<RewardResult> scores,
        PackedRollouts packed, float[] refLp, float[] oldValues)
    {
        var width = packed.Width;
        var advantages = new float[packed.Count * (width - 1)];
        var returns = new float[packed.Count * (width - 1)];
        double klSum = 0;
        for (var r = 0; r < packed.Count; r++)
        {
            var rollout = rollouts[r];
            var len = rollout.ResponseIds.Length;
            var start = r * (width - 1) + rollout.PromptIds.Length - 1;
            var rewards = new float[len];
            var values = new float[len];
            for (var j = 0; j < len; j++)
            {
                var kl = packed.OldLogProbs[start + j] - refLp[start + j];
                klSum += kl;
                rewards[j] = (float)(-Options.KlCoefficient * kl);
                values[j] = oldValues[start + j];
            }
            rewards[len - 1] += (float)scores[r].Reward;
            var (adv, ret) = Gae.Compute(rewards, values, Options.Gamma, Options.Lambda);
            adv.CopyTo(advantages, start);
            ret.CopyTo(returns, start);
        }
        var masked = Enumerable.Range(0, advantages.Length).Where(i => packed.ResponseMask[i] > 0).ToArray();
        var mean = masked.Average(i => (double)advantages[i]);
        var std = Math.Sqrt(masked.Average(i => Math.Pow(advantages[i] - mean, 2)));
        foreach (var i in masked) advantages[i] = (float)((advantages[i] - mean) / (std + 1e-8));
        return (advantages, returns, klSum);
    }

    /// <summary>One clipped policy and clipped value step on the rows <paramref name="rowIndices"/>; returns its figures.</summary>
    private Dictionary<string, double> MiniBatchStep(CausalLanguageModel policy, SequenceScoringModel value, AdamW policyOptimizer, AdamW valueOptimizer,
        List<Parameter> policyParameters, List<Parameter> valueParameters, UpdateBatch batch, long[] rowIndices, Device device, bool trainPolicy)
    {
        using var inner = NewDisposeScope();
        var width = batch.Width;
        var rows = tensor(rowIndices, device: device);
        var mb = batch.Ids.index_select(0, rows);
        var mbMask = batch.Mask.index_select(0, rows);
        var mbResp = batch.ResponseMask.index_select(0, rows);
        var tokenCount = mbResp.sum().clamp_min(1);
        Tensor logits;
        using (trainPolicy ? null : no_grad())
            logits = policy.ForwardLogits(mb, mbMask).narrow(1, 0, width - 1).to(ScalarType.Float32) / Options.Temperature;
        var logSoftmax = logits.log_softmax(-1);
        var newLp = logSoftmax.gather(-1, mb.narrow(1, 1, width - 1).unsqueeze(-1)).squeeze(-1);
        var ratio = (newLp - batch.OldLogProbs.index_select(0, rows)).exp();
        var adv = batch.Advantages.index_select(0, rows);
        var pg = torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - Options.ClipRange, 1 + Options.ClipRange));
        var pgLoss = (pg * mbResp).sum() / tokenCount;

        var vpred = value.forward(mb, mbMask).squeeze(-1).narrow(1, 0, width - 1).to(ScalarType.Float32);
        var oldV = batch.OldValues.index_select(0, rows);
        var vclipped = oldV + (vpred - oldV).clamp(-Options.ValueClipRange, Options.ValueClipRange);
        var ret = batch.Returns.index_select(0, rows);
        var vf = torch.maximum((vpred - ret).square(), (vclipped - ret).square()) * 0.5;
        var vfLoss = (vf * mbResp).sum() / tokenCount;

        policyOptimizer.zero_grad();
        valueOptimizer.zero_grad();
        (trainPolicy ? pgLoss + Options.ValueCoefficient * vfLoss : Options.ValueCoefficient * vfLoss).backward();
        if (trainPolicy)
        {
            nn.utils.clip_grad_norm_(policyParameters, Options.MaxGradNorm);
            policyOptimizer.step();
        }
        nn.utils.clip_grad_norm_(valueParameters, Options.MaxGradNorm);
        valueOptimizer.step();

        using (no_grad())
        {
            return new Dictionary<string, double>
            {
                ["policy_loss"] = pgLoss.item<float>(),
                ["value_loss"] = vfLoss.item<float>(),
                ["clip_fraction"] = ((((ratio - 1).abs() > Options.ClipRange).to(ScalarType.Float32) * mbResp).sum() / tokenCount).item<float>(),
                ["entropy"] = ((-(logSoftmax.exp() * logSoftmax).sum(-1) * mbResp).sum() / tokenCount).item<float>(),
                // How far this update's policy already is from the sampling one on its tokens (mean log-ratio).
                ["approx_kl"] = ((-(newLp - batch.OldLogProbs.index_select(0, rows)) * mbResp).sum() / tokenCount).item<float>(),
            };
        }
    }

    /// <summary>log softmax(logits / T) of each next token: logits [N, W, V] → [N, W−1].</summary>
    internal static Tensor TokenLogProbs(Tensor logits, Tensor targets, double temperature)
    {
        var w = targets.shape[1];
        var scaled = logits.narrow(1, 0, w).to(ScalarType.Float32) / temperature;
        return scaled.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
    }
}
