using System.Text.Json;
using HuatuoAspire.Dashboard.Services;
using HuatuoAspire.Trainer.Jobs;
using HuatuoAspire.Training.Ppo;
using HuatuoAspire.Training.Sft;

namespace HuatuoAspire.Trainer.FunctionalTests;

/// <summary>The training-run config carries the trainers' own options under the API's JSON names.</summary>
public sealed class TrainingRunConfigTests
{
    private static TrainingRunConfig Read(string json) => JsonSerializer.Deserialize<TrainingRunConfig>(json, TrainingRunConfig.Json)!;

    [Fact]
    public void UnsetPpoFieldsTakeThePapersDefaultsAndTheApisCheckpointInterval()
    {
        var config = Read("""{"kind":"ppo","policy":"/p","data":"/d.jsonl","kl_coef":0.05,"response_length":64}""");
        Assert.Equal(new PpoOptions { KlCoefficient = 0.05, MaxNewTokens = 64, SaveEvery = TrainingRunConfig.DefaultSaveEvery }, config.Ppo);
    }

    [Fact]
    public void TheDashboardsReferenceRecipeIsWhatTheTrainerRunsWhenTheFieldsAreLeftOut()
    {
        // The dashboard references no TorchSharp project, so its SFT form holds the reference values itself; an SFT
        // request with none of them set must run exactly what the form says "the paper's recipe" is.
        var sft = Read("""{"kind":"sft","model":"/m","data":"/d.jsonl"}""").Sft;
        var reference = SftDefaults.Reference;
        Assert.Equal((reference.Epochs, reference.LearningRate, reference.BatchSize, reference.MicroBatchSize, reference.MaxSeqLen, reference.SaveEvery),
            (sft.Epochs, sft.LearningRate, sft.BatchSize, sft.MicroBatchSize, sft.MaxSeqLen, sft.SaveEvery));
    }

    [Fact]
    public void OneLearningRateSetsBothPpoModelsUnlessTheValueRateIsGiven()
    {
        Assert.Equal((1e-4, 1e-4), Rates(Read("""{"kind":"ppo","learning_rate":1e-4}""").Ppo));
        Assert.Equal((1e-4, 2e-4), Rates(Read("""{"kind":"ppo","learning_rate":1e-4,"value_learning_rate":2e-4}""").Ppo));
        Assert.Equal((new PpoOptions().LearningRate, new PpoOptions().ValueLearningRate), Rates(Read("""{"kind":"ppo"}""").Ppo));

        static (double, double) Rates(PpoOptions options) => (options.LearningRate, options.ValueLearningRate);
    }

    [Fact]
    public void ConfigsStoredByEarlierVersionsWithNullsStillRead()
    {
        var config = Read("""
            {"kind":"sft","name":"n","model":"/m","policy":null,"value":null,"data":"/d.jsonl","dataset":null,"verifier":"rule","epochs":2,
             "learning_rate":null,"seed":42,"save_every":50,"lora_rank":0,"lora_alpha":16,"lora_dropout":0.05,"lora_targets":null,"batch_size":8,
             "micro_batch_size":4,"max_seq_len":512,"warmup_ratio":0.05,"value_learning_rate":null,"kl_coef":0.03,"IsPpo":false,"StartModel":"/m"}
            """);
        Assert.Equal(new SftOptions { Epochs = 2, SaveEvery = 50, BatchSize = 8, MicroBatchSize = 4, MaxSeqLen = 512 }, config.Sft with { LoraTargets = new SftOptions().LoraTargets });
        Assert.Equal(new SftOptions().LoraTargets, config.Sft.LoraTargets);
    }

    [Fact]
    public void TheStoredConfigWritesEveryOptionOfItsStageAndReadsBackEqual()
    {
        var given = new TrainingRunConfig { Kind = "ppo", Policy = "/p", Data = "/d.jsonl", Ppo = new PpoOptions { Temperature = 0.7, SaveEvery = 3 } };
        var stored = JsonSerializer.Serialize(given.WithStageOptionsWrittenOut(), TrainingRunConfig.Json);
        using var json = JsonDocument.Parse(stored);
        Assert.Equal(0.7, json.RootElement.GetProperty("temperature").GetDouble());
        Assert.Equal(new PpoOptions().KlCoefficient, json.RootElement.GetProperty("kl_coef").GetDouble());
        Assert.False(json.RootElement.TryGetProperty("batch_size", out _));
        Assert.Equal(given.Ppo, Read(stored).Ppo);
    }

    [Fact]
    public void AnUnsetValueLearningRateIsStoredAsNullAndFollowsThePolicysRate()
    {
        var stored = JsonSerializer.Serialize(Read("""{"kind":"ppo","learning_rate":1e-4}""").WithStageOptionsWrittenOut(), TrainingRunConfig.Json);
        using var json = JsonDocument.Parse(stored);
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("value_learning_rate").ValueKind);
        Assert.Equal(1e-4, Read(stored).Ppo.ValueLearningRate);
    }

    [Fact]
    public void EveryProblemIsListedAtOnceUnderTheApisNames()
    {
        var problems = Read("""{"kind":"ppo","policy":"blob:p","dataset":"d","temperature":0,"gamma":2,"ppo_epochs":0,"save_every":0}""").Problems();
        Assert.Contains(problems, p => p.StartsWith("temperature must be > 0", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("gamma and lambda must be in [0, 1]", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ppo_epochs", StringComparison.Ordinal));
        Assert.Contains("save_every must be >= 1.", problems);
        Assert.Equal(4, problems.Count);
    }

    [Fact]
    public void AMistypedOptionIsAProblemNotAnException()
    {
        var problems = Read("""{"kind":"sft","model":"blob:m","data":"blob:d","batch_size":"many"}""").Problems();
        Assert.Contains(problems, p => p.StartsWith("batch_size:", StringComparison.Ordinal));
    }

    [Fact]
    public void SftOptionsRefuseABatchThatIsNotAMultipleOfTheMicroBatch()
    {
        Assert.Contains(new SftOptions { BatchSize = 6, MicroBatchSize = 4 }.Problems(), p => p.StartsWith("batch_size must be a positive multiple", StringComparison.Ordinal));
        var thrown = Assert.Throws<ArgumentException>(() => new SftOptions { BatchSize = 6, MicroBatchSize = 4, Epochs = 0 }.Validate());
        Assert.Contains("batch_size", thrown.Message);
        Assert.Contains("epochs", thrown.Message);
    }
}
