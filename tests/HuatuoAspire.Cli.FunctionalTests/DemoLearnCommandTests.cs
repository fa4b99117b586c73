using System.Text.Json.Nodes;
using HuatuoAspire.Training.Observability;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>`huatuo demo learn` end to end at a size that runs in seconds: the files and folders each stage leaves.</summary>
[Collection(CommandLineCollection.Name)]
public sealed class DemoLearnCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("huatuo-cli-demo-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task DemoLearnTrainsOnFlawedSolutionsAndRewardsAgainstTheTrueAnswers()
    {
        var output = Path.Combine(_dir, "demo");
        Assert.Equal(0, await Program.Main(["demo", "learn", "--out", output, "--train-count", "40", "--held-out-count", "4", "--sft-epochs", "1",
            "--ppo-steps", "2", "--rollout-batch-size", "2", "--samples-per-prompt", "2", "--mini-batch-size", "4", "--ppo-epochs", "1",
            "--value-warmup", "1", "--eval-samples", "1", "--flawed-fraction", "0.5", "--kinds", "convert"]));

        var sft = File.ReadAllLines(Path.Combine(output, "sft-train.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        var ppo = File.ReadAllLines(Path.Combine(output, "ppo-train.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(40, sft.Count);
        static bool Flawed(JsonNode sftRecord) => sftRecord["Complex_CoT"]!.GetValue<string>() is var cot
            && (cot.Contains("x 100 =", StringComparison.Ordinal) || cot.Contains("/ 100 =", StringComparison.Ordinal));
        Assert.InRange(sft.Count(Flawed), 8, 32);
        // PPO's prompts are the same problems with the true answers: exactly the flawed solutions miss the ground truth.
        for (var i = 0; i < sft.Count; i++)
        {
            Assert.Equal(sft[i]["Question"]!.GetValue<string>(), ppo[i]["Open-ended Verifiable Question"]!.GetValue<string>());
            var truth = ppo[i]["Ground-True Answer"]!.GetValue<string>();
            Assert.Equal(Flawed(sft[i]), !sft[i]["Response"]!.GetValue<string>().Contains(truth, StringComparison.Ordinal));
        }

        Assert.True(File.Exists(Path.Combine(output, "sft", "model", "config.json")));
        Assert.True(File.Exists(Path.Combine(output, "ppo", "model", "config.json")));
        // Two iterations of 2 prompts × 2 samples in one mini-batch; the first only warms the value model up.
        Assert.Equal([0, 1], TrainingMetricsLog.Read(Path.Combine(output, "ppo")).Select(m => m["iteration"]!.GetValue<int>()));

        Assert.Equal(2, await Program.Main(["demo", "learn", "--out", Path.Combine(_dir, "bad"), "--flawed-fraction", "1.5"]));
        Assert.False(File.Exists(Path.Combine(_dir, "bad", "sft-train.jsonl")));
    }
}
