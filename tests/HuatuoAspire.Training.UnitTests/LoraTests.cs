using HuatuoAspire.Model;
using HuatuoAspire.Model.Modules;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Observability;
using HuatuoAspire.Training.Sft;
using static TorchSharp.torch;

namespace HuatuoAspire.Training.UnitTests;

/// <summary>
/// LoRA (issue 4): adapters train alone over a frozen base, start as the identity, merge exactly, save in PEFT's
/// layout and reload, and an SFT run with them really learns.
/// </summary>
public sealed class LoraTests
{
    private static readonly SftRecord[] Handful =
    [
        new("Dose 5 mg/kg for 40 kg?", "5 x 40 = 200", "200 mg"),
        new("Convert 2.5 g to mg.", "2.5 x 1000 = 2500", "2500 mg"),
        new("Infuse 1000 mL over 8 h?", "1000 / 8 = 125", "125 mL/h"),
        new("BMI of 81 kg, 1.8 m?", "81 / 3.24 = 25", "25 kg/m2"),
    ];

    private static readonly LoraSettings Settings = new(4, 8, 0.0, LoraSettings.DefaultTargets);

    private static Tensor Ids() => tensor(new long[] { 5, 17, 99, 3, 42, 7, 250, 11 }, dtype: ScalarType.Int64).view(1, -1);

    private static float MaxDifference(Tensor a, Tensor b)
    {
        using var d = (a - b).abs().max();
        return d.item<float>();
    }

    /// <summary>Gives every adapter a non-zero B so the adapter changes the outputs.</summary>
    private static void Perturb(CausalLanguageModel model)
    {
        using var _ = no_grad();
        manual_seed(11);
        foreach (var (_, p) in LoraAdapters.NamedParameters(model).Where(p => p.Name.EndsWith("lora_B.weight", StringComparison.Ordinal)))
        {
            using var noise = randn_like(p) * 0.05;
            p.copy_(noise);
        }
    }

    [Fact]
    public void AFreshAdapterLeavesTheLogitsExactlyAsTheBaseModel()
    {
        using var tiny = new TinyModel();
        using var model = CausalLanguageModel.FromPretrained(tiny.Directory, ModelPlacement.Cpu);
        using var _ = no_grad();
        using var ids = Ids();
        using var before = model.ForwardLogits(ids);
        var adapted = LoraAdapters.Attach(model, Settings);
        Assert.Equal(model.Config.NumHiddenLayers * 7, adapted.Count);
        using var after = model.ForwardLogits(ids);
        Assert.Equal(0f, MaxDifference(before, after));
        // The Hugging Face state dict is unchanged: no adapter key, so a base checkpoint still loads strictly.
        Assert.DoesNotContain(model.named_parameters(), p => p.name.Contains("lora", StringComparison.Ordinal));
    }

    [Fact]
    public void OnlyAdaptersReceiveGradientsAndTheBaseStaysBitIdentical()
    {
        using var tiny = new TinyModel();
        using var model = CausalLanguageModel.FromPretrained(tiny.Directory, ModelPlacement.Cpu);
        var baseline = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        LoraAdapters.Attach(model, Settings with { Dropout = 0.1 });
        model.train();
        var adapters = LoraAdapters.NamedParameters(model);
        using var optimizer = optim.AdamW(adapters.Select(p => p.Parameter), lr: 1e-2);
        using var ids = Ids();
        for (var step = 0; step < 3; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var logits = model.ForwardLogits(ids);
            var loss = nn.functional.cross_entropy(logits[0, ..^1], ids[0, 1..]);
            loss.backward();
            Assert.All(model.named_parameters(), p => Assert.True(p.parameter.grad is null, $"{p.name} got a gradient"));
            Assert.All(adapters.Where(p => p.Name.EndsWith("lora_A.weight", StringComparison.Ordinal) && step > 0 || p.Name.EndsWith("lora_B.weight", StringComparison.Ordinal)),
                p => Assert.True(p.Parameter.grad is not null && p.Parameter.grad.abs().sum().item<float>() > 0, $"{p.Name} got no gradient"));
            optimizer.step();
        }
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.True(p.eq(baseline[name]).all().item<bool>(), $"{name} changed");
            Assert.False(p.requires_grad);
        }
        foreach (var t in baseline.Values) t.Dispose();
    }

    [Fact]
    public void MergedWeightsComputeWhatTheAdapterComputedAndExportAsAPlainModel()
    {
        using var tiny = new TinyModel();
        using var model = CausalLanguageModel.FromPretrained(tiny.Directory, ModelPlacement.Cpu);
        LoraAdapters.Attach(model, Settings);
        Perturb(model);
        using var _ = no_grad();
        using var ids = Ids();
        using var plain = CausalLanguageModel.FromPretrained(tiny.Directory, ModelPlacement.Cpu);
        using var baseLogits = plain.ForwardLogits(ids);
        using var adapted = model.ForwardLogits(ids);
        Assert.True(MaxDifference(baseLogits, adapted) > 1e-3, "the perturbed adapter should change the logits");

        Assert.Equal(model.Config.NumHiddenLayers * 7, LoraAdapters.Merge(model));
        Assert.Empty(LoraAdapters.NamedParameters(model));
        using var merged = model.ForwardLogits(ids);
        var scale = adapted.abs().max().item<float>();
        Assert.True(MaxDifference(adapted, merged) <= 1e-5 * Math.Max(1, scale), $"merge changed logits by {MaxDifference(adapted, merged)}");

        // The merged model saves as an ordinary Hugging Face folder that loads strictly and gives the same logits.
        var folder = tiny.Out("merged");
        model.SavePretrained(folder);
        ModelFolderFiles.CopyTokenizer(tiny.Directory, folder);
        using var reloaded = CausalLanguageModel.FromPretrained(folder, ModelPlacement.Cpu);
        using var again = reloaded.ForwardLogits(ids);
        Assert.Equal(0f, MaxDifference(merged, again));
    }

    [Fact]
    public void ASavedAdapterReloadsInPeftLayoutAndABadOneIsRefusedWithoutHarm()
    {
        using var tiny = new TinyModel();
        using var model = CausalLanguageModel.FromPretrained(tiny.Directory, ModelPlacement.Cpu);
        LoraAdapters.Attach(model, Settings);
        Perturb(model);
        var folder = tiny.Out("adapter");
        LoraAdapters.Save(model, Settings, folder, tiny.Directory);

        using (var file = HuatuoAspire.Model.Checkpoints.HuggingFaceCheckpoint.OpenFile(Path.Combine(folder, LoraAdapters.WeightsFileName)))
        {
            Assert.Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", file.Names);
            Assert.Contains("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", file.Names);
            Assert.Equal([4L, model.Config.HiddenSize], file.Info("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").Shape);
        }
        var read = LoraAdapters.ReadSettings(folder);
        Assert.Equal((4, 8.0, 0.0), (read.Rank, read.Alpha, read.Dropout));
        Assert.Equal(LoraSettings.DefaultTargets, read.Targets);

        using var _ = no_grad();
        using var ids = Ids();
        using var expected = model.ForwardLogits(ids);
        using var fresh = CausalLanguageModel.FromPretrained(tiny.Directory, ModelPlacement.Cpu);
        LoraAdapters.Load(fresh, folder);
        using var actual = fresh.ForwardLogits(ids);
        Assert.Equal(0f, MaxDifference(expected, actual));

        // An adapter for other modules (or a damaged one) is refused by name and leaves the model untouched.
        using var other = CausalLanguageModel.FromPretrained(tiny.Directory, ModelPlacement.Cpu);
        var narrow = Settings with { Targets = ["q_proj"] };
        var config = File.ReadAllText(Path.Combine(folder, LoraAdapters.ConfigFileName));
        File.WriteAllText(Path.Combine(folder, LoraAdapters.ConfigFileName), config.Replace("\"r\": 4", "\"r\": 2"));
        var error = Assert.Throws<ModelFormatException>(() => LoraAdapters.Load(other, folder));
        Assert.Contains("shape", error.Message);
        Assert.Empty(LoraAdapters.NamedParameters(other));
        Assert.All(other.named_parameters(), p => Assert.True(p.parameter.requires_grad));
        Assert.Throws<ArgumentException>(() => LoraAdapters.Attach(other, narrow with { Targets = ["qkv_proj"] }));
    }

    [Fact]
    public void SftWithLoraLowersTheLossAndWritesTheMergedModelAndTheAdapter()
    {
        using var tiny = new TinyModel();
        var options = new SftOptions
        {
            LearningRate = 1e-2, Epochs = 12, BatchSize = 4, MicroBatchSize = 4, MaxSeqLen = 512, WarmupRatio = 0.05, Seed = 1,
            Placement = ModelPlacement.Cpu, LoraRank = 8, LoraAlpha = 16, LoraDropout = 0.0,
            // The tiny model is random: with its head and final norm frozen its logits cannot get sharp, so the head is
            // adapted too (a projection like the others).
            LoraTargets = [.. LoraSettings.DefaultTargets, "lm_head"],
        };
        var encoder = new SftExampleEncoder(HfTokenizer.FromFolder(tiny.Directory), 512);
        var examples = Handful.Select(encoder.Encode).ToList();
        double before;
        using (var original = CausalLanguageModel.FromPretrained(tiny.Directory, ModelPlacement.Cpu)) before = CausalLmLoss.MeanLoss(original, examples);

        var result = new SftTrainer(options).Run(tiny.Directory, Handful, tiny.Out("sft"));
        var metrics = TrainingMetricsLog.Read(tiny.Out("sft"));
        Assert.Equal(12, metrics.Count);

        using var trained = CausalLanguageModel.FromPretrained(result.ModelDirectory, ModelPlacement.Cpu);
        var after = CausalLmLoss.MeanLoss(trained, examples);
        Assert.True(after < before * 0.7, $"loss {before} -> {after}");
        Assert.False(File.Exists(Path.Combine(result.ModelDirectory, LoraAdapters.ConfigFileName)));

        // The saved adapter on the untouched base computes what the merged model computes.
        using var base2 = CausalLanguageModel.FromPretrained(tiny.Directory, ModelPlacement.Cpu);
        LoraAdapters.Load(base2, tiny.Out(Path.Combine("sft", "adapter")));
        using var _ = no_grad();
        using var ids = Ids();
        using var merged = trained.ForwardLogits(ids);
        using var adapted = base2.ForwardLogits(ids);
        Assert.True(MaxDifference(merged, adapted) <= 1e-4, $"adapter vs merged: {MaxDifference(merged, adapted)}");
    }

    [Fact]
    public void ResumedLoraSftContinuesTheLossCurveFromItsAdapterCheckpoint()
    {
        using var tiny = new TinyModel();
        var options = new SftOptions
        {
            LearningRate = 5e-3, Epochs = 6, BatchSize = 4, MicroBatchSize = 2, MaxSeqLen = 512, WarmupRatio = 0.1, Seed = 5,
            // No dropout: its masks come from torch's process-wide generator, which tests running in parallel also draw from.
            Placement = ModelPlacement.Cpu, SaveEvery = 3, LoraRank = 4, LoraAlpha = 8, LoraDropout = 0,
        };
        new SftTrainer(options).Run(tiny.Directory, Handful, tiny.Out("straight"));
        new SftTrainer(options with { StopAfterStep = 4 }).Run(tiny.Directory, Handful, tiny.Out("resumed"));
        // The checkpoint holds the adapter (PEFT layout), not a copy of the frozen base.
        var checkpoint = tiny.Out(Path.Combine("resumed", "checkpoint-3"));
        Assert.True(File.Exists(Path.Combine(checkpoint, LoraAdapters.WeightsFileName)));
        Assert.False(File.Exists(Path.Combine(checkpoint, "model.safetensors")));
        var resumed = new SftTrainer(options with { Resume = true }).Run(tiny.Directory, Handful, tiny.Out("resumed"));
        Assert.Equal(6, resumed.Steps);
        var a = TrainingMetricsLog.Read(tiny.Out("straight")).Select(m => m["loss"]!.GetValue<double>()).ToList();
        var b = TrainingMetricsLog.Read(tiny.Out("resumed")).Select(m => m["loss"]!.GetValue<double>()).ToList();
        Assert.Equal(6, b.Count);
        for (var i = 0; i < a.Count; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4 * Math.Max(1, a[i]), $"step {i}: {a[i]} vs {b[i]}");
    }
}
