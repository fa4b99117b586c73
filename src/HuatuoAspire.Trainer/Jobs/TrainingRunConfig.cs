using System.Text.Json;
using System.Text.Json.Serialization;

namespace HuatuoAspire.Trainer.Jobs;

/// <summary>
/// What an admin asks the training worker to do (stored as the run's config). Paths are on the trainer's machine.
/// SFT runs only for now: PPO runs from the command line (`huatuo train ppo`).
/// </summary>
public sealed record TrainingRunConfig
{
    [JsonPropertyName("kind")] public string Kind { get; init; } = "sft";
    [JsonPropertyName("name")] public string? Name { get; init; }
    /// <summary>Hugging Face model folder to start from.</summary>
    [JsonPropertyName("model")] public string Model { get; init; } = "";
    /// <summary>SFT data: a JSON/JSONL file with Question, Complex_CoT, Response.</summary>
    [JsonPropertyName("data")] public string Data { get; init; } = "";
    [JsonPropertyName("epochs")] public int Epochs { get; init; } = 3;
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; } = 5e-6;
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 128;
    [JsonPropertyName("micro_batch_size")] public int MicroBatchSize { get; init; } = 4;
    [JsonPropertyName("max_seq_len")] public int MaxSeqLen { get; init; } = 8192;
    [JsonPropertyName("warmup_ratio")] public double WarmupRatio { get; init; } = 0.05;
    [JsonPropertyName("seed")] public int Seed { get; init; } = 42;
    /// <summary>Save (and upload to blob storage) a resumable checkpoint every this many optimizer steps.</summary>
    [JsonPropertyName("save_every")] public int SaveEvery { get; init; } = 50;
    /// <summary>LoRA rank (0: full fine-tuning); with LoRA checkpoints hold the adapter and the final model is merged.</summary>
    [JsonPropertyName("lora_rank")] public int LoraRank { get; init; }
    [JsonPropertyName("lora_alpha")] public double LoraAlpha { get; init; } = 16;
    [JsonPropertyName("lora_dropout")] public double LoraDropout { get; init; } = 0.05;
    [JsonPropertyName("lora_targets")] public IReadOnlyList<string>? LoraTargets { get; init; }

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    /// <summary>The problems with this request, one message each; empty when it can be run.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Kind != "sft") problems.Add($"kind '{Kind}' is not run by the training worker (sft); run PPO with `huatuo train ppo`.");
        if (!Directory.Exists(Model) || !File.Exists(Path.Combine(Model, "config.json"))) problems.Add($"model '{Model}' is not a model folder with a config.json.");
        if (!File.Exists(Data)) problems.Add($"data '{Data}' does not exist.");
        if (Epochs < 1) problems.Add("epochs must be >= 1.");
        if (LearningRate <= 0) problems.Add("learning_rate must be > 0.");
        if (BatchSize < 1 || MicroBatchSize < 1 || BatchSize % MicroBatchSize != 0) problems.Add("batch_size must be a positive multiple of micro_batch_size.");
        if (MaxSeqLen < 8) problems.Add("max_seq_len must be >= 8.");
        if (SaveEvery < 1) problems.Add("save_every must be >= 1.");
        if (LoraRank < 0) problems.Add("lora_rank must be >= 0 (0: full fine-tuning).");
        if (LoraRank > 0 && !(LoraAlpha > 0)) problems.Add("lora_alpha must be > 0.");
        if (LoraRank > 0 && LoraDropout is < 0 or >= 1) problems.Add("lora_dropout must be in [0, 1).");
        return problems;
    }
}
