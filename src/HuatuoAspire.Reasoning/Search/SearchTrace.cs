using System.Text.Json.Serialization;
using HuatuoAspire.Domain.Search;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Verification;
using HuatuoAspire.Domain;

namespace HuatuoAspire.Reasoning.Search;

public enum SearchStatus
{
    /// <summary>A chain of thought whose Final Conclusion the verifier accepted, rewritten into Complex_CoT and Response.</summary>
    Verified,
    /// <summary>Efficient-search output: the label was shown to the model, so nothing was verified.</summary>
    LabelGuided,
    /// <summary>No usable result; <see cref="SearchResult.FailureReason"/> says why.</summary>
    Failed,
}

public enum SearchStepKind
{
    InitialReasoning,
    Refinement,
    LabelGuided,
    Reformat,
    FinalResponse,
}

/// <summary>One LLM exchange of a search, kept so that the dashboard can replay it.</summary>
public sealed record SearchExchange
{
    public required int Attempt { get; init; }
    /// <summary>0 for the initial chain of an attempt, then 1..max_depth for refinements.</summary>
    public required int Depth { get; init; }
    [JsonConverter(typeof(JsonStringEnumConverter<SearchStepKind>))]
    public required SearchStepKind Kind { get; init; }
    public string? Strategy { get; init; }
    public required string Prompt { get; init; }
    /// <summary>Every raw reply, the repair reply included when the first could not be parsed.</summary>
    public required IReadOnlyList<string> RawOutputs { get; init; }
    public IReadOnlyList<CotStep>? ParsedSteps { get; init; }
    public VerificationResult? Verdict { get; init; }
    public string? Error { get; init; }
    public required LlmUsage Usage { get; init; }
}

public sealed record SearchResult
{
    [JsonConverter(typeof(JsonStringEnumConverter<SearchStatus>))]
    public required SearchStatus Status { get; init; }
    public string? FailureReason { get; init; }
    public required string Question { get; init; }
    public required string GroundTruth { get; init; }
    /// <summary>The final chain of thought of the last attempt (the successful one when there is one).</summary>
    public required IReadOnlyList<CotStep> LongCot { get; init; }
    public string? ComplexCot { get; init; }
    public string? Response { get; init; }
    public required IReadOnlyList<SearchExchange> Steps { get; init; }
    public required LlmUsage Usage { get; init; }
    public required string Verifier { get; init; }
}

public sealed record SearchOptions
{
    /// <summary>Refinements per attempt after the initial chain (paper N = 3).</summary>
    public int MaxDepth { get; init; } = 3;
    /// <summary>Fresh attempts, each from a new initial chain (paper T = 3).</summary>
    public int MaxAttempts { get; init; } = 3;
    /// <summary>After every attempt failed, reveal the label for one more continuation (the reference's efficient_search).</summary>
    public bool EfficientSearch { get; init; }
    /// <summary>Seed of the strategy choice; with the item's index it makes a run repeatable.</summary>
    public int Seed { get; init; }
    /// <summary>Restart every attempt after the first from the first chain of thought instead of a new one (the reference's behaviour).</summary>
    public bool ReuseInitialReasoning { get; init; }
    /// <summary>The language the prompts ask the LLM to write in.</summary>
    public Prompts.PromptLanguage Language { get; init; }

    /// <summary>
    /// The reference script's defaults (search_for_complex_reasoning_path.py): max_search_depth 2,
    /// max_search_attempts 1, efficient_search on, restarts from the first chain of thought.
    /// </summary>
    public static SearchOptions ReferenceEfficient => new() { MaxDepth = 2, MaxAttempts = 1, EfficientSearch = true, ReuseInitialReasoning = true };

    public void Validate()
    {
        if (MaxDepth < 0) throw new ArgumentOutOfRangeException(nameof(MaxDepth), MaxDepth, "max depth must not be negative");
        if (MaxAttempts < 1) throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "max attempts must be at least 1");
    }
}
