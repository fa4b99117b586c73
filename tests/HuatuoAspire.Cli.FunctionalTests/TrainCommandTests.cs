using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Training.Observability;
using HuatuoAspire.Training.Scoring;
using static TorchSharp.torch;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>`huatuo train sft` then `huatuo train ppo` from its output, on a tiny model: metrics.jsonl and the final folders.</summary>
[Collection(CommandLineCollection.Name)]
public sealed class TrainCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("huatuo-cli-train-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task TrainSftThenPpoWriteAMetricsLinePerOptimizerStepAndLoadableHuggingFaceFolders()
    {
        var tiny = Path.Combine(_dir, "tiny");
        using (ModelPresets.Create(tiny, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed: 4)) { }
        var sftData = Path.Combine(_dir, "sft.jsonl");
        await File.WriteAllLinesAsync(sftData, Enumerable.Range(1, 8).Select(i => JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["Question"] = $"Dose {i} mg/kg for 10 kg?", ["Complex_CoT"] = $"{i} times 10 is {10 * i}.", ["Response"] = $"{10 * i} mg",
        })));
        var sftOut = Path.Combine(_dir, "sft");

        Assert.Equal(0, await Program.Main(["train", "sft", "--model", tiny, "--data", sftData, "--out", sftOut, "--epochs", "1",
            "--batch-size", "2", "--micro-batch-size", "1", "--max-seq-len", "128", "--lr", "1e-3", "--device", "cpu"]));

        var sftMetrics = TrainingMetricsLog.Read(sftOut);
        Assert.Equal([0, 1, 2, 3], sftMetrics.Select(m => m["step"]!.GetValue<int>())); // 8 examples, 2 per optimizer step
        foreach (var line in sftMetrics)
        {
            foreach (var key in new[] { "loss", "lr", "tokens_per_s", "grad_norm", "tokens", "epoch" })
                Assert.True(line[key] is JsonValue v && double.IsFinite(v.GetValue<double>()), $"{key} in {line.ToJsonString()}");
            Assert.True(line["loss"]!.GetValue<double>() > 0 && line["tokens_per_s"]!.GetValue<double>() > 0);
        }
        var sftModel = Path.Combine(sftOut, "model");
        AssertLoadableAndTrained(sftModel, tiny);

        var ppoData = Path.Combine(_dir, "ppo.jsonl");
        await File.WriteAllLinesAsync(ppoData, Enumerable.Range(1, 4).Select(i =>
            new JsonObject { ["Open-ended Verifiable Question"] = $"Dose {i} mg/kg for 20 kg?", ["Ground-True Answer"] = $"{20 * i} mg" }.ToJsonString()));
        var ppoOut = Path.Combine(_dir, "ppo");

        Assert.Equal(0, await Program.Main(["train", "ppo", "--policy", sftModel, "--value", tiny, "--data", ppoData, "--verifier", $"classifier:{tiny}",
            "--out", ppoOut, "--rollout-batch-size", "2", "--mini-batch-size", "1", "--ppo-epochs", "1", "--response-length", "6",
            "--lr", "1e-3", "--device", "cpu"]));

        var ppoMetrics = TrainingMetricsLog.Read(ppoOut);
        // 4 prompts, 2 per rollout batch, one PPO epoch in mini-batches of 1: a line per optimizer step.
        Assert.Equal([0, 1, 2, 3], ppoMetrics.Select(m => m["step"]!.GetValue<int>()));
        Assert.Equal([0, 0, 1, 1], ppoMetrics.Select(m => m["iteration"]!.GetValue<int>()));
        foreach (var line in ppoMetrics)
        {
            foreach (var key in new[] { "reward", "lr", "tokens_per_s", "correct_fraction", "kl", "entropy", "policy_loss", "value_loss", "clip_fraction", "response_length" })
                Assert.True(line[key] is JsonValue v && double.IsFinite(v.GetValue<double>()), $"{key} in {line.ToJsonString()}");
            Assert.Equal(1e-3, line["lr"]!.GetValue<double>());
            Assert.InRange(line["reward"]!.GetValue<double>(), 0, 1);
            Assert.InRange(line["response_length"]!.GetValue<double>(), 1, 6);
        }
        AssertLoadableAndTrained(Path.Combine(ppoOut, "model"), sftModel);
        using var value = SequenceScoringModel.FromPretrained(Path.Combine(ppoOut, "value"), 1, ModelPlacement.Cpu);
        Assert.NotNull(HfTokenizer.FromFolder(Path.Combine(ppoOut, "value")));
    }

    [Fact]
    public async Task TrainRefusesBadInputWithAClearErrorAndWritesNothing()
    {
        var tiny = Path.Combine(_dir, "tiny");
        using (ModelPresets.Create(tiny, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed: 4)) { }
        var bad = Path.Combine(_dir, "bad.jsonl");
        await File.WriteAllTextAsync(bad, "{\"Question\":\"q\",\"Complex_CoT\":\"c\"}\n");
        var output = Path.Combine(_dir, "out");
        Assert.Equal(2, await Program.Main(["train", "sft", "--model", tiny, "--data", bad, "--out", output]));
        Assert.Equal(2, await Program.Main(["train", "ppo", "--policy", tiny, "--value", tiny, "--data", Path.Combine(_dir, "none.jsonl"), "--out", output]));
        var ppoData = Path.Combine(_dir, "ppo.jsonl");
        await File.WriteAllTextAsync(ppoData, "{\"Question\":\"q\",\"Ground-True Answer\":\"a\"}\n");
        Assert.Equal(2, await Program.Main(["train", "ppo", "--policy", tiny, "--value", tiny, "--data", ppoData, "--verifier", "magic", "--out", output]));
        Assert.False(Directory.Exists(output));
    }

    /// <summary>The folder loads as a model with its tokenizer, and its weights moved away from where training started.</summary>
    private static void AssertLoadableAndTrained(string folder, string startedFrom)
    {
        Assert.NotNull(HfTokenizer.FromFolder(folder));
        using var trained = CausalLanguageModel.FromPretrained(folder, ModelPlacement.Cpu);
        using var initial = CausalLanguageModel.FromPretrained(startedFrom, ModelPlacement.Cpu);
        using var scope = NewDisposeScope();
        var before = initial.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var moved = trained.named_parameters().Sum(p => (p.parameter - before[p.name]).abs().sum().item<float>());
        Assert.True(moved > 0, $"{folder}: the weights did not change");
    }
}
