using System.Text.Json;
using System.Text.Json.Serialization;
using HuatuoAspire.Training.Ppo;
using HuatuoAspire.Training.Sft;

namespace HuatuoAspire.Trainer.Jobs;

/// <summary>
/// What an admin asks the training worker to do (stored as the run's config). A model or data reference is a path on
/// the trainer's machine or <c>blob:PREFIX</c> in the project's blob storage (for example the <c>final</c> checkpoint
/// of an earlier run, <c>blob:training/run-3/final</c>, or an uploaded data file). Unset numbers take the stage's
/// reference defaults (<see cref="SftOptions"/>, <see cref="PpoOptions"/>: for PPO temperature 0.5, β 0.03,
/// γ 1, λ 0.95, clip 0.2, lr 5e-7).
/// </summary>
public sealed record TrainingRunConfig
{
    public const string BlobScheme = "blob:";
    /// <summary>Configuration key of the classifier (a folder or blob:PREFIX) PPO runs use when they name no verifier.</summary>
    public const string DefaultClassifierKey = "Trainer:DefaultClassifier";
    private static readonly PpoOptions PpoDefault = new();
    private static readonly SftOptions SftDefault = new();

    [JsonPropertyName("kind")] public string Kind { get; init; } = "sft";
    [JsonPropertyName("name")] public string? Name { get; init; }

    /// <summary>SFT: the Hugging Face model folder to start from.</summary>
    [JsonPropertyName("model")] public string? Model { get; init; }
    /// <summary>PPO: the SFT checkpoint the policy starts from (also the frozen reference).</summary>
    [JsonPropertyName("policy")] public string? Policy { get; init; }
    /// <summary>PPO: the checkpoint the value model starts from (a causal LM gives a zero head); default the policy.</summary>
    [JsonPropertyName("value")] public string? Value { get; init; }

    /// <summary>A JSON/JSONL file (SFT: Question, Complex_CoT, Response; PPO: question and Ground-True Answer).</summary>
    [JsonPropertyName("data")] public string? Data { get; init; }
    /// <summary>
    /// A dataset in the database instead of a file. PPO: its verifiable problems (all but the rejected ones) are the
    /// prompts; SFT: its finished reasoning trajectories (searched or imported) are the examples.
    /// </summary>
    [JsonPropertyName("dataset")] public string? Dataset { get; init; }
    /// <summary>
    /// PPO: <c>rule</c>, <c>llm</c> (the default endpoint), <c>llm:NAME</c> or <c>classifier:FOLDER|blob:PREFIX</c>. Unset:
    /// the classifier configured as <see cref="DefaultClassifierKey"/> (the reference rewards with its verifier model),
    /// else <c>rule</c>; the stored config records the choice.
    /// </summary>
    [JsonPropertyName("verifier")] public string? Verifier { get; init; }

    [JsonPropertyName("epochs")] public int? Epochs { get; init; }
    [JsonPropertyName("learning_rate")] public double? LearningRate { get; init; }
    [JsonPropertyName("seed")] public int Seed { get; init; } = 42;
    /// <summary>Save (and upload to blob storage) a resumable checkpoint every this many optimizer steps (PPO: rollout iterations).</summary>
    [JsonPropertyName("save_every")] public int SaveEvery { get; init; } = 50;
    /// <summary>LoRA rank (0: full fine-tuning); with LoRA checkpoints hold the adapter and the final model is merged.</summary>
    [JsonPropertyName("lora_rank")] public int LoraRank { get; init; }
    [JsonPropertyName("lora_alpha")] public double LoraAlpha { get; init; } = 16;
    [JsonPropertyName("lora_dropout")] public double LoraDropout { get; init; } = 0.05;
    [JsonPropertyName("lora_targets")] public IReadOnlyList<string>? LoraTargets { get; init; }

    // SFT
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = SftDefault.BatchSize;
    [JsonPropertyName("micro_batch_size")] public int MicroBatchSize { get; init; } = SftDefault.MicroBatchSize;
    [JsonPropertyName("max_seq_len")] public int MaxSeqLen { get; init; } = SftDefault.MaxSeqLen;
    /// <summary>SFT: cosine schedule; PPO: linear warm-up and decay over the rollout iterations (both 0.05 by default).</summary>
    [JsonPropertyName("warmup_ratio")] public double WarmupRatio { get; init; } = SftDefault.WarmupRatio;

    // PPO (the paper's stage 2 defaults)
    [JsonPropertyName("value_learning_rate")] public double? ValueLearningRate { get; init; }
    [JsonPropertyName("kl_coef")] public double KlCoefficient { get; init; } = PpoDefault.KlCoefficient;
    [JsonPropertyName("gamma")] public double Gamma { get; init; } = PpoDefault.Gamma;
    [JsonPropertyName("lambda")] public double Lambda { get; init; } = PpoDefault.Lambda;
    [JsonPropertyName("clip_range")] public double ClipRange { get; init; } = PpoDefault.ClipRange;
    [JsonPropertyName("value_clip_range")] public double ValueClipRange { get; init; } = PpoDefault.ValueClipRange;
    [JsonPropertyName("ppo_epochs")] public int PpoEpochs { get; init; } = PpoDefault.PpoEpochs;
    [JsonPropertyName("rollout_batch_size")] public int RolloutBatchSize { get; init; } = PpoDefault.RolloutBatchSize;
    [JsonPropertyName("samples_per_prompt")] public int SamplesPerPrompt { get; init; } = PpoDefault.SamplesPerPrompt;
    [JsonPropertyName("value_warmup_iterations")] public int ValueWarmupIterations { get; init; } = PpoDefault.ValueWarmupIterations;
    [JsonPropertyName("mini_batch_size")] public int MiniBatchSize { get; init; } = PpoDefault.MiniBatchSize;
    [JsonPropertyName("temperature")] public double Temperature { get; init; } = PpoDefault.Temperature;
    [JsonPropertyName("response_length")] public int ResponseLength { get; init; } = PpoDefault.MaxNewTokens;
    /// <summary>PPO: fraction of the prompts held out (at most <see cref="PpoOptions.MaxEvalPrompts"/>) and scored at the end.</summary>
    [JsonPropertyName("eval_fraction")] public double EvalFraction { get; init; } = PpoDefault.EvalFraction;

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public bool IsPpo => Kind == "ppo";

    /// <summary>The verifier PPO uses: the one asked for, else the configured default classifier, else <c>rule</c>.</summary>
    public static string DefaultVerifier(string? configuredClassifier) =>
        string.IsNullOrWhiteSpace(configuredClassifier) ? "rule" : "classifier:" + configuredClassifier.Trim();

    /// <summary>The verifier to run (<c>rule</c> when the stored config names none).</summary>
    public string VerifierSpec => Verifier ?? "rule";

    /// <summary>The model the run starts from (SFT: model; PPO: policy).</summary>
    public string StartModel => (IsPpo ? Policy ?? Model : Model) ?? "";

    public static bool IsBlob(string? reference) => reference?.StartsWith(BlobScheme, StringComparison.Ordinal) == true;

    public static string BlobPrefix(string reference) => reference[BlobScheme.Length..].Trim('/');

    /// <summary>The problems with this request that need no database or blob storage to see, one message each.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Kind is not ("sft" or "ppo")) problems.Add($"kind '{Kind}' is not a training stage (sft or ppo).");
        if (IsPpo)
        {
            CheckModel("policy", StartModel, problems);
            if (Value is not null) CheckModel("value", Value, problems);
            if ((Data is null) == (Dataset is null)) problems.Add("give exactly one of data (a file) and dataset (a dataset name in the database).");
            else if (Data is not null) CheckFile("data", Data, problems);
            if (VerifierKind(VerifierSpec) is null)
                problems.Add($"verifier '{Verifier}' must be rule, llm, llm:ENDPOINT or classifier:FOLDER|blob:PREFIX.");
            else if (VerifierSpec.StartsWith("classifier:", StringComparison.Ordinal)) CheckModel("verifier classifier", VerifierSpec["classifier:".Length..], problems);
            if (!(EvalFraction is >= 0 and < 1)) problems.Add($"eval_fraction must be in [0, 1), got {EvalFraction}.");
            if (!(ValueLearningRate is null or > 0)) problems.Add("value_learning_rate must be > 0.");
            if (!(KlCoefficient >= 0)) problems.Add("kl_coef must be >= 0.");
            if (Gamma is < 0 or > 1 || Lambda is < 0 or > 1) problems.Add("gamma and lambda must be in [0, 1].");
            if (!(ClipRange > 0) || !(ValueClipRange > 0)) problems.Add("clip_range and value_clip_range must be > 0.");
            if (PpoEpochs < 1) problems.Add("ppo_epochs must be >= 1.");
            if (RolloutBatchSize < 1 || MiniBatchSize < 1 || SamplesPerPrompt < 1) problems.Add("rollout_batch_size, samples_per_prompt and mini_batch_size must be >= 1.");
            if (ValueWarmupIterations < 0) problems.Add("value_warmup_iterations must be >= 0.");
            if (!(Temperature > 0)) problems.Add("temperature must be > 0.");
            if (ResponseLength < 1) problems.Add("response_length must be >= 1.");
        }
        else if (Kind == "sft")
        {
            CheckModel("model", StartModel, problems);
            if ((Data is null) == (Dataset is null)) problems.Add("give exactly one of data (an SFT file) and dataset (a dataset name in the database).");
            else if (Data is not null) CheckFile("data", Data, problems);
            if (BatchSize < 1 || MicroBatchSize < 1 || BatchSize % MicroBatchSize != 0) problems.Add("batch_size must be a positive multiple of micro_batch_size.");
            if (MaxSeqLen < 8) problems.Add("max_seq_len must be >= 8.");
        }
        if (!(WarmupRatio is >= 0 and <= 1)) problems.Add($"warmup_ratio must be in [0, 1] (a fraction of the steps), got {WarmupRatio}.");
        if (Epochs is < 1) problems.Add("epochs must be >= 1.");
        if (LearningRate is <= 0 || LearningRate is double.NaN) problems.Add("learning_rate must be > 0.");
        if (SaveEvery < 1) problems.Add("save_every must be >= 1.");
        if (LoraRank < 0) problems.Add("lora_rank must be >= 0 (0: full fine-tuning).");
        if (LoraRank > 0 && !(LoraAlpha > 0)) problems.Add("lora_alpha must be > 0.");
        if (LoraRank > 0 && LoraDropout is < 0 or >= 1) problems.Add("lora_dropout must be in [0, 1).");
        return problems;
    }

    /// <summary>rule, llm or classifier for a well-formed verifier string, else null.</summary>
    public static string? VerifierKind(string verifier) => verifier switch
    {
        "rule" => "rule",
        "llm" => "llm",
        _ when verifier.StartsWith("llm:", StringComparison.Ordinal) && verifier.Length > 4 => "llm",
        _ when verifier.StartsWith("classifier:", StringComparison.Ordinal) && verifier.Length > "classifier:".Length => "classifier",
        _ => null,
    };

    /// <summary>The named endpoint of an LLM verifier (null: the default one).</summary>
    public static string? JudgeEndpoint(string verifier) => verifier.StartsWith("llm:", StringComparison.Ordinal) ? verifier[4..] : null;

    private static void CheckModel(string what, string reference, List<string> problems)
    {
        if (IsBlob(reference)) { if (BlobPrefix(reference).Length == 0) problems.Add($"{what} '{reference}' names no blob prefix."); return; }
        if (!Directory.Exists(reference) || !File.Exists(Path.Combine(reference, "config.json")))
            problems.Add($"{what} '{reference}' is not a model folder with a config.json.");
    }

    private static void CheckFile(string what, string reference, List<string> problems)
    {
        if (IsBlob(reference)) { if (BlobPrefix(reference).Length == 0) problems.Add($"{what} '{reference}' names no blob."); return; }
        if (!File.Exists(reference)) problems.Add($"{what} '{reference}' does not exist.");
    }
}

