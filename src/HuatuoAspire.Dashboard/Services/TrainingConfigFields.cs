using System.Text.Json;
using HuatuoAspire.Data.Entities;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>
/// A training run's stored configuration as the fields of its kind: the trainer stores every field of its request
/// (SFT and PPO share one record), so an SFT run's PPO fields and an unused LoRA's settings are left out here.
/// </summary>
public static class TrainingConfigFields
{
    // Configs stored before the options became the contract held both stages' fields; today's hold their stage's only.
    private static readonly HashSet<string> SftOnly = ["model", "batch_size", "micro_batch_size", "max_seq_len"];

    private static readonly HashSet<string> PpoOnly =
    [
        "policy", "value", "verifier", "value_learning_rate", "kl_coef", "gamma", "lambda", "clip_range", "value_clip_range",
        "ppo_epochs", "rollout_batch_size", "samples_per_prompt", "value_warmup_iterations", "mini_batch_size", "temperature", "response_length",
    ];

    private static readonly HashSet<string> LoraDetails = ["lora_alpha", "lora_dropout", "lora_targets"];

    // Derived from the fields (the stored record serializes its computed properties too).
    private static readonly HashSet<string> Derived = ["IsPpo", "StartModel"];

    /// <summary>Fields naming files, folders or blobs (a classifier verifier names its folder): server paths only admins see.</summary>
    public static readonly IReadOnlySet<string> References = new HashSet<string> { "model", "policy", "value", "data", "verifier" };

    /// <summary>Shown instead of a reference to a visitor who is not signed in.</summary>
    public const string HiddenReference = "(sign in as an admin to see it)";

    /// <summary>The fields worth showing, in the stored order; null values are left out. Not JSON: the text as one field.</summary>
    public static IReadOnlyList<(string Name, string Value)> Of(TrainingRunKind kind, string config)
    {
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(config);
        }
        catch (JsonException)
        {
            return [("config", config)];
        }
        using (json)
        {
            if (json.RootElement.ValueKind != JsonValueKind.Object) return [("config", config)];
            var other = kind == TrainingRunKind.Sft ? PpoOnly : SftOnly;
            var lora = json.RootElement.TryGetProperty("lora_rank", out var rank) && rank.TryGetInt32(out var r) && r > 0;
            return json.RootElement.EnumerateObject()
                .Where(p => p.Value.ValueKind != JsonValueKind.Null && !other.Contains(p.Name) && !Derived.Contains(p.Name) && (lora || !LoraDetails.Contains(p.Name)))
                .Where(p => lora || p.Name != "lora_rank")
                .Select(p => (p.Name, p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText()))
                .ToList();
        }
    }
}
