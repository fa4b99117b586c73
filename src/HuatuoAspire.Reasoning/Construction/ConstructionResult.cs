using System.Text.Json.Serialization;
using HuatuoAspire.Domain;

namespace HuatuoAspire.Reasoning.Construction;

public enum ConstructionStatus
{
    /// <summary>Rewritten into an open-ended question with a ground-truth answer.</summary>
    Accepted,
    /// <summary>Dropped by a filter; <see cref="ConstructionResult.RejectReason"/> says which and why.</summary>
    Rejected,
    /// <summary>The LLM output stayed unusable (unparsable verdict or rewrite).</summary>
    Failed,
}

/// <summary>The LLM filter's single verdict (paper §3.1).</summary>
public enum FilterVerdict
{
    Pass,
    TooSimple,
    AmbiguousAnswer,
    NotReformulatable,
}

/// <summary>How one small model answered the multiple-choice question in the difficulty filter.</summary>
public sealed record DifficultyCheck(string Model, string Prompt, string RawOutput, string? Chosen, bool Correct, LlmUsage Usage);

public sealed record ConstructionResult
{
    [JsonConverter(typeof(JsonStringEnumConverter<ConstructionStatus>))]
    public required ConstructionStatus Status { get; init; }
    [JsonConverter(typeof(JsonStringEnumConverter<FilterVerdict>))]
    public FilterVerdict? Verdict { get; init; }
    public string? RejectReason { get; init; }
    public IReadOnlyList<DifficultyCheck> DifficultyChecks { get; init; } = [];
    public string? FilterPrompt { get; init; }
    public IReadOnlyList<string> FilterRawOutputs { get; init; } = [];
    public string? RewritePrompt { get; init; }
    public IReadOnlyList<string> RewriteRawOutputs { get; init; } = [];
    public string? OpenEndedQuestion { get; init; }
    public string? GroundTruthAnswer { get; init; }
    public required LlmUsage Usage { get; init; }
}

public sealed record ConstructionOptions
{
    /// <summary>Questions shorter than this (characters, options excluded) are dropped as too short to need reasoning.</summary>
    public int MinQuestionCharacters { get; init; } = 40;
    /// <summary>Ask the LLM filter (Pass / Too Simple / Ambiguous Answer / Not Reformulatable); the reference's --filter_data.</summary>
    public bool LlmFilter { get; init; } = true;
    /// <summary>The language the open-ended question and its answer are written in.</summary>
    public Prompts.PromptLanguage Language { get; init; }
}
