using HuatuoAspire.Dashboard.Services;
using HuatuoAspire.Data.Entities;

namespace HuatuoAspire.Dashboard.UnitTests;

public sealed class TrainingConfigFieldsTests
{
    // As the trainer stores a request: every field of the shared record, SFT's and PPO's.
    private const string Stored = """
        {"kind":"sft","name":"n","model":"/m","policy":null,"value":null,"data":"/d.jsonl","dataset":null,"verifier":"rule","epochs":2,
         "learning_rate":0.001,"seed":42,"save_every":50,"lora_rank":0,"lora_alpha":16,"lora_dropout":0.05,"lora_targets":null,
         "batch_size":2,"micro_batch_size":1,"max_seq_len":128,"warmup_ratio":0.03,"IsPpo":false,"StartModel":"/m","value_learning_rate":null,"kl_coef":0.03,"gamma":1,
         "lambda":0.95,"clip_range":0.2,"value_clip_range":0.2,"ppo_epochs":4,"rollout_batch_size":16,"samples_per_prompt":1,
         "value_warmup_iterations":0,"mini_batch_size":4,"temperature":0.5,"response_length":1024}
        """;

    [Fact]
    public void AnSftRunShowsItsOwnFieldsAndNoPpoOrUnusedLoraField()
    {
        var names = TrainingConfigFields.Of(TrainingRunKind.Sft, Stored).Select(f => f.Name).ToList();
        Assert.Equal(["kind", "name", "model", "data", "epochs", "learning_rate", "seed", "save_every", "batch_size", "micro_batch_size", "max_seq_len", "warmup_ratio"], names);
    }

    [Fact]
    public void APpoRunShowsItsOwnFieldsAndNoSftField()
    {
        var fields = TrainingConfigFields.Of(TrainingRunKind.Ppo, Stored.Replace("\"kind\":\"sft\"", "\"kind\":\"ppo\"").Replace("\"lora_rank\":0", "\"lora_rank\":8"));
        var names = fields.Select(f => f.Name).ToList();
        Assert.Contains("kl_coef", names);
        Assert.Contains("verifier", names);
        Assert.Contains("lora_alpha", names);
        Assert.DoesNotContain("batch_size", names);
        Assert.DoesNotContain("max_seq_len", names);
        Assert.Equal("rule", fields.Single(f => f.Name == "verifier").Value);
        Assert.Equal("0.03", fields.Single(f => f.Name == "kl_coef").Value);
    }

    [Fact]
    public void AConfigurationThatIsNotJsonIsShownAsItIs() =>
        Assert.Equal([("config", "not json")], TrainingConfigFields.Of(TrainingRunKind.Sft, "not json"));
}
