using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Model.Modules;
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

    /// <summary>
    /// The stage's options as the request gave them (their JSON names are <see cref="SftOptions"/>' and
    /// <see cref="PpoOptions"/>'); stored flat beside the fields above, every option written out once the API accepts
    /// the run. Read them through <see cref="Sft"/> and <see cref="Ppo"/>.
    /// </summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? StageOptions { get; init; }

    /// <summary>Where the API's defaults differ from the trainers': a run checkpoints every 50 steps, so a killed one resumes.</summary>
    public const int DefaultSaveEvery = 50;

    /// <summary>SFT's options: the request's values, the trainer's defaults for the rest (a <see cref="JsonException"/> for a mistyped one).</summary>
    [JsonIgnore]
    public SftOptions Sft
    {
        get => ReadStageOptions<SftOptions>((options, given) => options with
        {
            SaveEvery = SaveEveryOrDefault(options.SaveEvery, given),
            LoraTargets = options.LoraTargets is { Count: > 0 } targets ? targets : LoraSettings.DefaultTargets,
        });
        init => StageOptions = WriteStageOptions(value);
    }

    /// <summary>PPO's options: the request's values, the paper's defaults for the rest (a <see cref="JsonException"/> for a mistyped one).</summary>
    [JsonIgnore]
    public PpoOptions Ppo
    {
        get => ReadStageOptions<PpoOptions>((options, given) => options with
        {
            SaveEvery = SaveEveryOrDefault(options.SaveEvery, given),
            // One learning rate given sets both models' rates.
            ValueLearningRate = given.Contains("value_learning_rate") || !given.Contains("learning_rate") ? options.ValueLearningRate : options.LearningRate,
        });
        init => StageOptions = WriteStageOptions(value);
    }

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public bool IsPpo => Kind == "ppo";

    /// <summary>The verifier PPO uses: the one asked for, else the configured default classifier, else <c>rule</c>.</summary>
    public static string DefaultVerifier(string? configuredClassifier) =>
        string.IsNullOrWhiteSpace(configuredClassifier) ? "rule" : "classifier:" + configuredClassifier.Trim();

    /// <summary>The verifier to run (<c>rule</c> when the stored config names none).</summary>
    [JsonIgnore] public string VerifierSpec => Verifier ?? "rule";

    /// <summary>The model the run starts from (SFT: model; PPO: policy).</summary>
    public string StartModel => (IsPpo ? Policy ?? Model : Model) ?? "";

    public static bool IsBlob(string? reference) => reference?.StartsWith(BlobScheme, StringComparison.Ordinal) == true;

    public static string BlobPrefix(string reference) => reference[BlobScheme.Length..].Trim('/');

    /// <summary>The problems with this request that need no database or blob storage to see, one message each.</summary>
    public IReadOnlyList<string> Problems()
    {
        if (Kind is not ("sft" or "ppo")) return [$"kind '{Kind}' is not a training stage (sft or ppo)."];
        var problems = new List<string>();
        if (IsPpo)
        {
            CheckModel("policy", StartModel, problems);
            if (Value is not null) CheckModel("value", Value, problems);
        }
        else
        {
            CheckModel("model", StartModel, problems);
        }
        if ((Data is null) == (Dataset is null))
            problems.Add($"give exactly one of data ({(IsPpo ? "a file" : "an SFT file")}) and dataset (a dataset name in the database).");
        else if (Data is not null) CheckFile("data", Data, problems);
        if (IsPpo)
        {
            if (!VerifierSpecification.TryParse(VerifierSpec, out var verifier, out var verifierError)) problems.Add(verifierError);
            else if (verifier.Kind == VerifierKind.Classifier) CheckModel("verifier classifier", verifier.ClassifierModel!, problems);
        }
        problems.AddRange(StageOptionProblems());
        return problems;
    }

    /// <summary>The stage's options, read once: their own problems, a save interval below 1, or the one that does not parse.</summary>
    private IReadOnlyList<string> StageOptionProblems()
    {
        try
        {
            var (problems, saveEvery) = IsPpo
                ? Ppo switch { var ppo => (ppo.Problems(), ppo.SaveEvery) }
                : Sft switch { var sft => (sft.Problems(), sft.SaveEvery) };
            return saveEvery < 1 ? [.. problems, "save_every must be >= 1."] : problems;
        }
        catch (JsonException e)
        {
            return [$"{e.Path?.TrimStart('$', '.')}: {e.Message}"];
        }
    }

    /// <summary>This config with every option of its stage written out (defaults included), as the run stores it.</summary>
    public TrainingRunConfig WithStageOptionsWrittenOut()
    {
        if (!IsPpo) return this with { Sft = Sft };
        var written = this with { Ppo = Ppo };
        // Unset, the value model's rate follows the policy's: stored as null, as the API was given it.
        if (StageOptions?.TryGetValue("value_learning_rate", out var given) != true || given.ValueKind == JsonValueKind.Null)
            written.StageOptions!["value_learning_rate"] = JsonNull;
        return written;
    }

    private static readonly JsonElement JsonNull = JsonSerializer.SerializeToElement<object?>(null);

    /// <summary>The stage's options as given, then <paramref name="fixUp"/> with the names that were given (the API's defaults where they differ).</summary>
    private T ReadStageOptions<T>(Func<T, IReadOnlySet<string>, T> fixUp)
    {
        // Nulls mean "not given" (earlier runs stored unset numbers as null).
        var given = new JsonObject();
        foreach (var (name, value) in StageOptions ?? [])
            if (value.ValueKind != JsonValueKind.Null) given[name] = JsonNode.Parse(value.GetRawText());
        var options = given.Deserialize<T>(Json) ?? throw new JsonException("the stage's options are empty.");
        return fixUp(options, given.Select(p => p.Key).ToHashSet(StringComparer.Ordinal));
    }

    private static int SaveEveryOrDefault(int saveEvery, IReadOnlySet<string> given) => given.Contains("save_every") ? saveEvery : DefaultSaveEvery;

    private static Dictionary<string, JsonElement> WriteStageOptions<T>(T options) =>
        JsonSerializer.SerializeToElement(options, Json).EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);

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

