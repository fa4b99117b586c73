using HuatuoAspire.Domain.Reward;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Observability;
using HuatuoAspire.Training.Optimization;
using HuatuoAspire.Training.Ppo;
using HuatuoAspire.Training.Scoring;
using HuatuoAspire.Training.Sft;
using static TorchSharp.torch;
using TorchSharp;
using TorchSharp.Modules;

namespace HuatuoAspire.Training.UnitTests;

public sealed class TrainingTests
{
    private static readonly SftRecord[] Handful =
    [
        new("Dose 5 mg/kg for 40 kg?", "5 x 40 = 200", "200 mg"),
        new("Convert 2.5 g to mg.", "2.5 x 1000 = 2500", "2500 mg"),
        new("Infuse 1000 mL over 8 h?", "1000 / 8 = 125", "125 mL/h"),
        new("BMI of 81 kg, 1.8 m?", "81 / 3.24 = 25", "25 kg/m2"),
    ];

    [Fact]
    public void LossMaskCoversExactlyTheAssistantTurnAndItsEndOfTurnToken()
    {
        using var tiny = new TinyModel();
        var tokenizer = HfTokenizer.FromFolder(tiny.Directory);
        var encoder = new SftExampleEncoder(tokenizer, 4096);
        var example = encoder.Encode(Handful[0]);
        var prompt = encoder.EncodePrompt(Handful[0].Question);
        Assert.Equal(prompt, example.InputIds.Take(prompt.Count));
        Assert.All(example.Labels.Take(prompt.Count), l => Assert.Equal(SftExampleEncoder.IgnoreIndex, l));
        var labelled = example.Labels.Skip(prompt.Count).ToArray();
        Assert.DoesNotContain(SftExampleEncoder.IgnoreIndex, labelled);
        var text = tokenizer.Decode(labelled);
        Assert.StartsWith("## Thinking\n\n5 x 40 = 200\n\n## Final Response\n\n200 mg<|im_end|>", text);
        Assert.Contains(tokenizer.EosTokenIds.Single(), labelled);

        // Over-long examples keep their last tokens (the answer), and say they were cut.
        var cut = new SftExampleEncoder(tokenizer, 20).Encode(Handful[0]);
        Assert.True(cut.Truncated);
        Assert.Equal(example.InputIds[^20..], cut.InputIds);
        Assert.Equal(example.Labels[^20..], cut.Labels);
    }

    [Fact]
    public void PackedRowsComputeWhatTheExamplesComputeAlone()
    {
        using var tiny = new TinyModel();
        using var model = CausalLanguageModel.FromPretrained(tiny.Directory, ModelPlacement.Cpu);
        var encoder = new SftExampleEncoder(HfTokenizer.FromFolder(tiny.Directory), 4096);
        var examples = Handful.Select(encoder.Encode).ToList();
        using var _ = no_grad();
        var separate = new SftBatchPlan(examples, 4, 1, 0, pack: false, maxSeqLen: 4096);
        var packed = new SftBatchPlan(examples, 1, 1, 0, pack: true, maxSeqLen: 4096);
        Assert.Equal(1, packed.Count);
        double sumSeparate = 0, sumPacked = 0;
        using (var batch = separate.Materialise(0, CPU, 0)) using (var loss = CausalLmLoss.SummedLoss(model, batch)) sumSeparate = loss.item<float>();
        using (var batch = packed.Materialise(0, CPU, 0)) using (var loss = CausalLmLoss.SummedLoss(model, batch)) sumPacked = loss.item<float>();
        Assert.Equal(sumSeparate, sumPacked, 2);
        Assert.Equal(separate.LabelTokens(0), packed.LabelTokens(0));
    }

    [Fact]
    public void SftOverfitsAHandfulOfExamplesToNearZeroLoss()
    {
        using var tiny = new TinyModel();
        var options = new SftOptions { LearningRate = 5e-3, Epochs = 80, BatchSize = 4, MicroBatchSize = 4, MaxSeqLen = 512, WarmupRatio = 0.05, Seed = 1, Placement = ModelPlacement.Cpu };
        var result = new SftTrainer(options).Run(tiny.Directory, Handful, tiny.Out("sft"));
        var metrics = TrainingMetricsLog.Read(tiny.Out("sft"));
        Assert.Equal(80, metrics.Count);
        Assert.True(metrics[0]["loss"]!.GetValue<double>() > 3, $"first loss {metrics[0]["loss"]}");
        using var trained = CausalLanguageModel.FromPretrained(result.ModelDirectory, ModelPlacement.Cpu);
        var encoder = new SftExampleEncoder(HfTokenizer.FromFolder(result.ModelDirectory), 512);
        var loss = CausalLmLoss.MeanLoss(trained, Handful.Select(encoder.Encode).ToList());
        Assert.True(loss < 0.1, $"held-in loss after overfitting: {loss}");
        foreach (var key in new[] { "step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s" }) Assert.NotNull(metrics[^1][key]);
    }

    [Fact]
    public void ResumedSftContinuesTheLossCurve()
    {
        using var tiny = new TinyModel();
        var options = new SftOptions { LearningRate = 2e-3, Epochs = 6, BatchSize = 4, MicroBatchSize = 2, MaxSeqLen = 512, WarmupRatio = 0.1, Seed = 5, Placement = ModelPlacement.Cpu, SaveEvery = 3 };
        new SftTrainer(options).Run(tiny.Directory, Handful, tiny.Out("straight"));
        // Interrupted after step 4 (checkpoint at 3), then resumed: steps 3.. are recomputed from the checkpoint.
        new SftTrainer(options with { StopAfterStep = 4 }).Run(tiny.Directory, Handful, tiny.Out("resumed"));
        var resumed = new SftTrainer(options with { Resume = true }).Run(tiny.Directory, Handful, tiny.Out("resumed"));
        Assert.Equal(6, resumed.Steps);
        var a = TrainingMetricsLog.Read(tiny.Out("straight")).Select(m => m["loss"]!.GetValue<double>()).ToList();
        var b = TrainingMetricsLog.Read(tiny.Out("resumed")).Select(m => m["loss"]!.GetValue<double>()).ToList();
        Assert.Equal(Enumerable.Range(0, 6), TrainingMetricsLog.Read(tiny.Out("resumed")).Select(m => m["step"]!.GetValue<int>()));
        // Tolerance: fp32 CPU kernels are deterministic for the same inputs; 1e-4 relative covers thread-order effects.
        for (var i = 0; i < a.Count; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4 * Math.Max(1, a[i]), $"step {i}: {a[i]} vs {b[i]}");
    }

    [Fact]
    public async Task ResumedPpoContinuesTheUninterruptedRunStepForStep()
    {
        using var tiny = new TinyModel(seed: 2);
        var records = Enumerable.Range(1, 6).Select(i => new PpoRecord($"Dose {i} mg/kg for 10 kg?", $"{10 * i} mg")).ToArray();
        var options = new PpoOptions
        {
            RolloutBatchSize = 2, MiniBatchSize = 1, PpoEpochs = 2, MaxNewTokens = 6, Seed = 4, SaveEvery = 1, LearningRate = 1e-3,
            ValueLearningRate = 1e-3, Placement = ModelPlacement.Cpu,
        };
        var reward = new HuatuoReward(new RuleVerifier());
        await new PpoTrainer(options, reward).RunAsync(tiny.Directory, tiny.Directory, records, tiny.Out("straight"));
        // Stopped after the first rollout batch (checkpoint-4: 2 PPO epochs × 2 mini-batches), then resumed.
        await new PpoTrainer(options with { StopAfterIteration = 1 }, reward).RunAsync(tiny.Directory, tiny.Directory, records, tiny.Out("resumed"));
        Assert.True(File.Exists(Path.Combine(TrainingCheckpoint.Folder(tiny.Out("resumed"), 4), TrainingCheckpoint.StateFile)));
        var result = await new PpoTrainer(options with { Resume = true }, reward).RunAsync(tiny.Directory, tiny.Directory, records, tiny.Out("resumed"));
        Assert.Equal((12, 3), (result.Steps, result.Iterations));
        var a = TrainingMetricsLog.Read(tiny.Out("straight"));
        var b = TrainingMetricsLog.Read(tiny.Out("resumed"));
        Assert.Equal(Enumerable.Range(0, 12), b.Select(m => m["step"]!.GetValue<int>()));
        for (var i = 0; i < a.Count; i++)
        {
            foreach (var name in new[] { "reward", "response_length", "kl", "policy_loss", "value_loss", "entropy", "approx_kl" })
            {
                double x = a[i][name]!.GetValue<double>(), y = b[i][name]!.GetValue<double>();
                Assert.True(Math.Abs(x - y) <= 1e-5 + 1e-4 * Math.Abs(x), $"step {i} {name}: {x} vs {y}");
            }
        }
    }

    [Fact]
    public void AdamWGroupsExemptBiasesAndNorms()
    {
        using var tiny = new TinyModel();
        using var model = CausalLanguageModel.FromPretrained(tiny.Directory, ModelPlacement.Cpu);
        var (decay, noDecay) = AdamWGroups.Split(model.named_parameters());
        var names = model.named_parameters().ToDictionary(p => p.parameter.Handle, p => p.name);
        Assert.All(noDecay, p => Assert.True(p.dim() == 1 && names[p.Handle].Contains("norm"), names[p.Handle]));
        Assert.Contains(decay, p => names[p.Handle] == "model.layers.0.self_attn.q_proj.weight");
        Assert.Equal(model.parameters().Count(), decay.Count + noDecay.Count);
    }

    /// <summary>
    /// A tiny policy, its frozen reference, a value model with a fresh (zero) head, and two crafted rollouts of one dosing
    /// question: one in the format with the right answer (reward 1), one without the format (reward 0).
    /// </summary>
    private sealed class TwoRollouts : IDisposable
    {
        private readonly TinyModel _tiny;

        private TwoRollouts(int seed, PpoOptions options)
        {
            _tiny = new TinyModel(seed);
            Policy = CausalLanguageModel.FromPretrained(_tiny.Directory, ModelPlacement.Cpu);
            Reference = CausalLanguageModel.FromPretrained(_tiny.Directory, ModelPlacement.Cpu);
            Value = SequenceScoringModel.FromPretrained(_tiny.Directory, 1, ModelPlacement.Cpu);
            Trainer = new PpoTrainer(options, new HuatuoReward(new RuleVerifier()));
            var tokenizer = HfTokenizer.FromFolder(_tiny.Directory);
            Prompt = new SftExampleEncoder(tokenizer, 4096).EncodePrompt("Dose 5 mg/kg for 40 kg?").ToArray();
            Good = tokenizer.Encode("## Thinking\n\n200\n\n## Final Response\n\n200 mg", addSpecialTokens: false).ToArray();
            Bad = tokenizer.Encode("200 mg, no format", addSpecialTokens: false).ToArray();
            Rollouts = [new Rollout(Prompt, Good, LogProbs(Policy, Prompt, Good), tokenizer.Decode(Good)), new Rollout(Prompt, Bad, LogProbs(Policy, Prompt, Bad), tokenizer.Decode(Bad))];
            Policy.train();
            PolicyOptimizer = AdamWGroups.Create(Policy.named_parameters(), options.LearningRate, 0);
            ValueOptimizer = AdamWGroups.Create(Value.named_parameters(), options.ValueLearningRate, 0);
        }

        public static async Task<TwoRollouts> CreateAsync(int seed, PpoOptions options)
        {
            var made = new TwoRollouts(seed, options);
            made.Scores = [.. await Task.WhenAll(made.Rollouts.Select(r => made.Trainer.Reward.ScoreAsync(r.Text, "200 mg")))];
            return made;
        }

        public CausalLanguageModel Policy { get; }
        public CausalLanguageModel Reference { get; }
        public SequenceScoringModel Value { get; }
        public PpoTrainer Trainer { get; }
        public int[] Prompt { get; }
        public int[] Good { get; }
        public int[] Bad { get; }
        public Rollout[] Rollouts { get; }
        public RewardResult[] Scores { get; private set; } = [];
        public AdamW PolicyOptimizer { get; }
        public AdamW ValueOptimizer { get; }

        public Dictionary<string, double> Update(bool trainPolicy = true) =>
            Trainer.Update(Policy, Reference, Value, PolicyOptimizer, ValueOptimizer, Rollouts, Scores, 0, trainPolicy: trainPolicy);

        public void Dispose()
        {
            PolicyOptimizer.Dispose();
            ValueOptimizer.Dispose();
            Policy.Dispose();
            Reference.Dispose();
            Value.Dispose();
            _tiny.Dispose();
        }
    }

    [Fact]
    public async Task PpoStepRaisesTheProbabilityOfARewardedResponse()
    {
        // lambda 1 and zero initial values: every token of the rewarded response gets the same positive advantage.
        using var two = await TwoRollouts.CreateAsync(3, new PpoOptions { LearningRate = 1e-4, ValueLearningRate = 1e-4, PpoEpochs = 2, MiniBatchSize = 2, Temperature = 1.0, Lambda = 1.0 });
        Assert.Equal([1.0, 0.0], two.Scores.Select(s => s.Reward));

        var before = two.Rollouts[0].LogProbs.Sum();
        var beforeBad = two.Rollouts[1].LogProbs.Sum();
        var figures = two.Update();
        var after = LogProbs(two.Policy, two.Prompt, two.Good).Sum();
        var afterBad = LogProbs(two.Policy, two.Prompt, two.Bad).Sum();
        Assert.True(after > before, $"log p(rewarded) {before} -> {after}");
        Assert.True(afterBad < beforeBad, $"log p(unrewarded) {beforeBad} -> {afterBad}");
        Assert.True(figures["clip_fraction"] >= 0 && figures["entropy"] > 0);
    }

    private static float[] LogProbs(CausalLanguageModel model, int[] prompt, int[] response)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var all = prompt.Concat(response).Select(i => (long)i).ToArray();
        var ids = tensor(all, [1, all.Length]);
        var lp = PpoTrainer.TokenLogProbs(model.ForwardLogits(ids), ids.narrow(1, 1, all.Length - 1), 1.0);
        return lp[0].narrow(0, prompt.Length - 1, response.Length).data<float>().ToArray();
    }

    [Fact]
    public async Task ClassifierVerifierReadsASequenceClassificationCheckpoint()
    {
        using var tiny = new TinyModel();
        var dir = tiny.Out("classifier");
        using (var classifier = SequenceScoringModel.FromPretrained(tiny.Directory, 2, ModelPlacement.Cpu))
        {
            // A causal-LM checkpoint gives a zero head: both labels score 0, so p(correct) is exactly 0.5 (> 0.4).
            Assert.Equal(0, classifier.score.weight!.abs().sum().item<float>());
            classifier.SavePretrained(dir);
        }
        ModelFolderFiles.CopyTokenizer(tiny.Directory, dir);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!;
        Assert.Equal("LlamaForSequenceClassification", config["architectures"]![0]!.GetValue<string>());
        Assert.Equal(2, config["num_labels"]!.GetValue<int>());
        using var verifier = new ClassifierVerifier(dir, ModelPlacement.Cpu);
        Assert.Equal(0.5, verifier.ProbabilityCorrect("200 mg", "200 mg"), 6);
        Assert.True((await verifier.VerifyAsync("200 mg", "200 mg")).IsCorrect);
        using var strict = new ClassifierVerifier(dir, ModelPlacement.Cpu, threshold: 0.6);
        Assert.False((await strict.VerifyAsync("200 mg", "200 mg")).IsCorrect);
        Assert.Contains("<Model Response>\n200 mg\n</Model Response>\n\n<Reference Answer>\n200 mg\n</Reference Answer>", ClassifierVerifier.Prompt("200 mg", "200 mg", "<eos>"));
        Assert.EndsWith("<eos>", ClassifierVerifier.Prompt("a", "b", "<eos>"));
    }

    [Fact]
    public async Task AValueWarmupUpdateTrainsTheValueModelAndLeavesThePolicyAlone()
    {
        var options = new PpoOptions { LearningRate = 1e-3, ValueLearningRate = 1e-3, PpoEpochs = 2, MiniBatchSize = 2, Temperature = 1.0, ValueWarmupIterations = 1 };
        using var two = await TwoRollouts.CreateAsync(5, options);
        var initial = two.Policy.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

        two.Update(trainPolicy: false);
        Assert.All(two.Policy.state_dict(), kv => Assert.True(kv.Value.allclose(initial[kv.Key], 0, 0), $"{kv.Key} moved during the value warm-up"));
        // The causal-LM checkpoint gives the value model a zero head; the warm-up update trained it toward the returns.
        Assert.True(two.Value.score.weight!.abs().sum().item<float>() > 0);

        two.Update();
        Assert.Contains(two.Policy.state_dict(), kv => !kv.Value.allclose(initial[kv.Key], 0, 0));
        Assert.Throws<ArgumentException>(() => (options with { ValueWarmupIterations = -1 }).Validate());
    }

    [Fact]
    public async Task PpoRunWritesMetricsAndLoadableModelFolders()
    {
        using var tiny = new TinyModel(seed: 2);
        var records = new[] { new PpoRecord("Dose 5 mg/kg for 40 kg?", "200 mg"), new PpoRecord("Convert 2.5 g to mg.", "2500 mg"), new PpoRecord("Infuse 1000 mL over 8 h?", "125 mL/h") };
        var options = new PpoOptions { RolloutBatchSize = 2, MiniBatchSize = 1, PpoEpochs = 1, MaxNewTokens = 8, Seed = 4, Placement = ModelPlacement.Cpu };
        var result = await new PpoTrainer(options, new HuatuoReward(new RuleVerifier())).RunAsync(tiny.Directory, tiny.Directory, records, tiny.Out("ppo"));
        // Two rollout batches (2 and 1 prompts) of one PPO epoch in mini-batches of 1: 2 + 1 optimizer steps, a line each.
        Assert.Equal(3, result.Steps);
        Assert.Equal(2, result.Iterations);
        var metrics = TrainingMetricsLog.Read(tiny.Out("ppo"));
        Assert.Equal([0, 1, 2], metrics.Select(m => m["step"]!.GetValue<int>()));
        Assert.Equal([0, 0, 1], metrics.Select(m => m["iteration"]!.GetValue<int>()));
        foreach (var key in new[] { "reward", "correct_fraction", "kl", "entropy", "policy_loss", "value_loss", "clip_fraction", "response_length", "lr", "tokens_per_s", "approx_kl" })
            Assert.True(metrics.All(m => m[key] is not null), key);
        // A random model never writes the format in 8 bytes: reward 0.
        Assert.All(metrics, m => Assert.Equal(0.0, m["reward"]!.GetValue<double>()));
        using var policy = CausalLanguageModel.FromPretrained(result.ModelDirectory, ModelPlacement.Cpu);
        using var value = SequenceScoringModel.FromPretrained(result.ValueDirectory, 1, ModelPlacement.Cpu);
        Assert.NotNull(HfTokenizer.FromFolder(result.ModelDirectory));
    }
}
