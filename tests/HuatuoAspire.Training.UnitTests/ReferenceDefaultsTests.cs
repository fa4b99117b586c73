using System.Text.Json.Nodes;
using HuatuoAspire.Domain.Reward;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Model.Tokenization.ChatTemplates;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Optimization;
using HuatuoAspire.Training.Ppo;
using HuatuoAspire.Training.Scoring;
using HuatuoAspire.Training.Sft;

namespace HuatuoAspire.Training.UnitTests;

/// <summary>The settings and behaviours taken from the reference's RL_stage2.py / SFT_stage1.py.</summary>
public sealed class ReferenceDefaultsTests
{
    [Fact]
    public void PpoDefaultsAreTheReferenceStageTwoCommand()
    {
        var d = new PpoOptions();
        // README of FreedomIntelligence/HuatuoGPT-o1: --num_ppo_epochs 3 --num_mini_batches 1 --per_device_train_batch_size 1
        // --gradient_accumulation_steps 16 --response_length 1300 --learning_rate 5e-7 --warmup_ratio 0.05 --kl_coef 0.03
        // --temperature 0.5; RL_stage2.py: eval_ratio 0.1, eval_max_num 200.
        Assert.Equal((3, 16, 16, 1300, 0.05, 5e-7, 0.03, 0.5), (d.PpoEpochs, d.RolloutBatchSize, d.MiniBatchSize, d.MaxNewTokens, d.WarmupRatio, d.LearningRate, d.KlCoefficient, d.Temperature));
        Assert.Equal((0.1, 200), (d.EvalFraction, d.MaxEvalPrompts));
        Assert.True(d.ScheduleLearningRate);
    }

    [Fact]
    public void TheLinearScheduleWarmsUpOverFivePercentThenDecaysLinearlyToZero()
    {
        var s = new LinearSchedule(5e-7, 100, 0.05);
        Assert.Equal(5, s.WarmupSteps);
        Assert.Equal(1e-7, s.At(0), 15);
        Assert.Equal(5e-7, s.At(4), 15);
        Assert.Equal(5e-7, s.At(5), 15);
        Assert.Equal(5e-7 * 45 / 95, s.At(55), 15);
        Assert.Equal(5e-7 / 95, s.At(99), 15);
        // A constant rate when the schedule is off (no planned steps).
        Assert.Equal(5e-7, new LinearSchedule(5e-7, 0, 0.05).At(7), 15);
    }

    [Theory]
    [InlineData(9, 0)]
    [InlineData(10, 1)]
    [InlineData(1999, 199)]
    [InlineData(5000, 200)]
    public void TenPercentOfThePromptsAtMostTwoHundredAreHeldOutDisjointAndTheSameForTheSameSeed(int count, int heldOut)
    {
        var records = Enumerable.Range(0, count).Select(i => new PpoRecord($"q{i}", $"a{i}")).ToList();
        var (train, eval) = new PpoOptions { Seed = 7 }.Split(records);
        Assert.Equal(heldOut, eval.Count);
        Assert.Equal(count - heldOut, train.Count);
        Assert.Empty(train.Select(r => r.Question).Intersect(eval.Select(r => r.Question)));
        Assert.Equal(eval.Select(r => r.Question), new PpoOptions { Seed = 7 }.Split(records).Eval.Select(r => r.Question));
        Assert.Empty(new PpoOptions { EvalFraction = 0 }.Split(records).Eval);
    }

    [Fact]
    public async Task APpoRunTrainsOnNinetyPercentScoresTheHeldOutTenAndFollowsTheLinearSchedule()
    {
        using var tiny = new TinyModel(seed: 2);
        var records = Enumerable.Range(1, 10).Select(i => new PpoRecord($"Dose {i} mg/kg for 10 kg?", $"{10 * i} mg")).ToArray();
        var options = new PpoOptions { RolloutBatchSize = 3, MiniBatchSize = 3, PpoEpochs = 1, MaxNewTokens = 4, Seed = 4, Placement = Model.ModelPlacement.Cpu };
        var result = await new PpoTrainer(options, new HuatuoReward(new RuleVerifier())).RunAsync(tiny.Directory, tiny.Directory, records, tiny.Out("ppo"));

        // 9 training prompts in rollout batches of 3; the held-out one is scored once with the final policy.
        Assert.Equal(3, result.Iterations);
        Assert.NotNull(result.HeldOut);
        Assert.InRange(result.HeldOut.MeanResponseTokens, 1, 4);
        // Warm-up ⌈3 × 0.05⌉ = 1 iteration, then linear decay: peak, peak, half.
        var lr = Observability.TrainingMetricsLog.Read(tiny.Out("ppo")).Select(m => m["lr"]!.GetValue<double>()).ToArray();
        Assert.Equal([5e-7, 5e-7, 2.5e-7], lr.Select(x => Math.Round(x, 12)));
    }

    [Fact]
    public void ATokenizerWithoutAChatTemplateGetsTheReferenceLlamaThreeTemplate()
    {
        using var tiny = new TinyModel();
        var configPath = Path.Combine(tiny.Directory, "tokenizer_config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config.Remove("chat_template");
        File.WriteAllText(configPath, config.ToJsonString());
        var tokenizer = HfTokenizer.FromFolder(tiny.Directory);
        Assert.Null(tokenizer.Chat);

        var encoder = new SftExampleEncoder(tokenizer, 4096);
        var bos = tokenizer.BosToken ?? "";
        // What SFT_stage1.py's Template(chat_template_llama3).render(...) gives: content trimmed, BOS before the first turn.
        Assert.Equal($"{bos}<|start_header_id|>user<|end_header_id|>\n\nWhat dose?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            encoder.RenderPrompt("  What dose?\n"));
        var full = encoder.Template.Render([new ChatMessage("user", "Q"), new ChatMessage("assistant", "A")], addGenerationPrompt: false);
        Assert.Equal($"{bos}<|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nA<|eot_id|>", full);
        // And the example encodes with the loss on the assistant turn only.
        var example = encoder.Encode(new SftRecord("Q", "think", "A"));
        Assert.True(example.LabelCount > 0 && example.LabelCount < example.InputIds.Length);
    }
}
