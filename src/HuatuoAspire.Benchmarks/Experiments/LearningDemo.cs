using HuatuoAspire.Model;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Domain.Reward;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Training;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Ppo;
using HuatuoAspire.Training.Sft;
using HuatuoAspire.Training.Synthetic;

namespace HuatuoAspire.Benchmarks.Experiments;

/// <summary>Held-out figures of one stage of a <see cref="LearningDemo"/>.</summary>
public sealed record LearningDemoStage(string Stage, double HeldOutLoss, PolicyScore Score);

/// <summary>What a <see cref="LearningDemo"/> run measured, and on what.</summary>
public sealed record LearningDemoResult(IReadOnlyList<LearningDemoStage> Stages, int HeldOutProblems, int TrainingProblems, int FlawedSolutions,
    double Temperature);

/// <summary>
/// Shows on CPU that both stages learn. A fresh model from <c>model init</c> is fine-tuned on worked solutions of the
/// synthetic medical-calculation task, then trained with PPO from that checkpoint; held-out loss, verifier accuracy and
/// mean reward are measured before and after with the same seeds and sampling. Part of the SFT solutions can carry a
/// classic wrong step (<see cref="LearningDemoOptions.FlawedFraction"/>), as unverified reasoning paths do: SFT imitates
/// it, and PPO's verifier reward is what takes it out again.
/// </summary>
public sealed class LearningDemo(LearningDemoOptions options)
{
    private const double Temperature = 0.5;
    private const int MaxNewTokens = 200;

    /// <summary>
    /// Runs the demo. <paramref name="train"/> runs one training stage (its name, headline figure and body, which
    /// reports progress); <paramref name="log"/> gets each stage's figures as they come.
    /// </summary>
    /// <exception cref="ArgumentException">The options are not usable (<see cref="LearningDemoOptions.Validate"/>).</exception>
    public async Task<LearningDemoResult> RunAsync(Func<string, string, Func<Action<TrainingProgress>, Task>, Task> train, Action<string> log,
        CancellationToken ct)
    {
        if (options.Validate() is [var first, ..]) throw new ArgumentException(first);
        var root = Path.GetFullPath(options.OutputDirectory);
        var s = options.Seed;
        var baseDir = Path.Combine(root, "init");
        ModelPresets.Create(baseDir, ModelArchitecture.Llama, options.Preset, "byte", s).Dispose();
        IReadOnlyList<MedicalCalculationProblem> trainProblems, heldOut;
        // Too few distinct problems for the counts asked is a bad setting, not a fault.
        try { (trainProblems, heldOut) = MedicalCalculationTasks.Splits(options.TrainCount, options.HeldOutCount, s, options.Kinds.ToArray()); }
        catch (InvalidOperationException e) { throw new ArgumentException(e.Message, e); }
        var sftFile = Path.Combine(root, "sft-train.jsonl");
        var ppoFile = Path.Combine(root, "ppo-train.jsonl");
        var sftTrain = MedicalCalculationTasks.WithFlawedSolutions(trainProblems, options.FlawedFraction, s);
        TrainingDataFile.WriteSft(sftFile, sftTrain);
        TrainingDataFile.WritePpo(ppoFile, trainProblems);
        TrainingDataFile.WriteSft(Path.Combine(root, "held-out.jsonl"), heldOut);
        var heldOutSft = heldOut.Select(p => new SftRecord(p.Question, p.Thinking, p.FinalResponse)).ToList();
        // Each held-out problem is answered EvalSamples times with its own seeds, the same for every stage.
        var heldOutPpo = Enumerable.Repeat(heldOut, options.EvalSamples).SelectMany(x => x).Select(p => new PpoRecord(p.Question, p.GroundTruth)).ToList();
        var tokenizer = HfTokenizer.FromFolder(baseDir);
        var encoder = new SftExampleEncoder(tokenizer, 512);
        var heldOutEncoded = heldOutSft.Select(encoder.Encode).ToList();
        var reward = new HuatuoReward(new RuleVerifier());
        var evalSeed = s + 1000;

        var stages = new List<LearningDemoStage>();
        async Task Measure(string stage, string dir)
        {
            using var model = CausalLanguageModel.FromPretrained(dir, ModelPlacement.Cpu);
            var loss = CausalLmLoss.MeanLoss(model, heldOutEncoded);
            var score = await PolicyEvaluation.ScoreAsync(model, tokenizer, heldOutPpo, reward, Temperature, MaxNewTokens, evalSeed, ct);
            stages.Add(new LearningDemoStage(stage, loss, score));
            log($"{stage}: held-out loss {loss:0.0000}, reward {score.MeanReward:0.000}, accuracy {score.Accuracy:P1}");
        }

        // With SftModel the run is about PPO: the initial row (a random model) is left out.
        string sftModelDir;
        if (options.SftModel is null)
        {
            await Measure("initial model", baseDir);
            var sft = new SftTrainer(new SftOptions
            {
                LearningRate = options.SftLearningRate, Epochs = options.SftEpochs, BatchSize = 16, MicroBatchSize = 16,
                MaxSeqLen = 512, WarmupRatio = 0.05, Seed = s, Placement = ModelPlacement.Cpu,
            });
            var sftRecords = TrainingDataFile.ReadSft(sftFile);
            var sftResult = default(SftResult)!;
            await train("SFT", "loss", p =>
            {
                sftResult = sft.Run(baseDir, sftRecords, Path.Combine(root, "sft"), p, cancellationToken: ct);
                return Task.CompletedTask;
            });
            sftModelDir = sftResult.ModelDirectory;
        }
        else
        {
            sftModelDir = Path.GetFullPath(options.SftModel);
        }
        await Measure("after SFT", sftModelDir);

        var ppoRecords = TrainingDataFile.ReadPpo(ppoFile).Take(options.PpoSteps * options.RolloutBatchSize).ToList();
        var ppo = new PpoTrainer(new PpoOptions
        {
            LearningRate = options.PpoLearningRate, ValueLearningRate = options.ValueLearningRate, RolloutBatchSize = options.RolloutBatchSize,
            SamplesPerPrompt = options.SamplesPerPrompt, Lambda = options.GaeLambda, MiniBatchSize = options.MiniBatchSize,
            PpoEpochs = options.PpoEpochs, ValueWarmupIterations = options.ValueWarmupIterations, Epochs = 1, Temperature = Temperature,
            MaxNewTokens = MaxNewTokens, Seed = s, Placement = ModelPlacement.Cpu,
            // The demo's own settings (a constant learning rate, its own held-out problems), not the reference's.
            ScheduleLearningRate = false, EvalFraction = 0,
        }, reward);
        var ppoResult = default(PpoResult)!;
        await train("PPO", "reward", async p => ppoResult = await ppo.RunAsync(sftModelDir, sftModelDir, ppoRecords, Path.Combine(root, "ppo"), p,
            cancellationToken: ct));
        await Measure("after PPO", ppoResult.ModelDirectory);
        return new LearningDemoResult(stages, heldOut.Count, trainProblems.Count, sftTrain.Count(p => p.IsFlawed), Temperature);
    }
}
