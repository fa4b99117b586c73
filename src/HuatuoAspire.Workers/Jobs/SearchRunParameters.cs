using System.Text.Json;
using HuatuoAspire.Domain.Verification;

namespace HuatuoAspire.Workers.Jobs;

/// <summary>What a search run does; stored as the run's Parameters (jsonb) and read back by every item job.</summary>
public sealed record SearchRunParameters
{
    /// <summary>Search only this dataset's Accepted problems (all datasets when null).</summary>
    public long? DatasetId { get; init; }
    /// <summary>The named LLM endpoint that writes the reasoning (Llm:Endpoints:&lt;name&gt;); null: the default
    /// endpoint (<c>Llm:DefaultEndpoint</c>, else our own inference service).</summary>
    public string? Endpoint { get; init; }
    /// <summary>The LLM judge's endpoint (the older field, kept: <c>llm:ENDPOINT</c> in <see cref="Verifier"/> says the same);
    /// the generating endpoint when neither names one.</summary>
    public string? JudgeEndpoint { get; init; }
    /// <summary><c>rule</c> (RuleVerifier, no LLM), <c>llm</c> or <c>llm:ENDPOINT</c> (an LLM judge).</summary>
    public string Verifier { get; init; } = "llm";
    /// <summary>Refinements per attempt; unset: the paper's 3, or the reference script's 2 with <see cref="EfficientSearch"/>.</summary>
    public int? MaxDepth { get; init; }
    /// <summary>Attempts per problem; unset: the paper's 3, or the reference script's 1 with <see cref="EfficientSearch"/>.</summary>
    public int? MaxAttempts { get; init; }
    /// <summary>The reference's efficient (label-guided) mode: after every attempt failed, reveal the label once.</summary>
    public bool EfficientSearch { get; init; }
    /// <summary>Restart attempts from the first chain of thought (unset: on in efficient mode, as the reference does).</summary>
    public bool? ReuseInitialReasoning { get; init; }
    /// <summary>en or zh: the language of the search prompts (zh: the reference's Chinese version).</summary>
    public string Language { get; init; } = "en";
    public int Seed { get; init; } = 42;
    public int? Limit { get; init; }

    /// <summary>
    /// The verifier these parameters name, with <see cref="JudgeEndpoint"/> folded in; an
    /// <see cref="ArgumentException"/> when the verifier is malformed, a classifier, or contradicts the judge endpoint.
    /// </summary>
    public VerifierSpecification ResolveVerifier()
    {
        if (!VerifierSpecification.TryParse(Verifier, out var specification, out var error)) throw new ArgumentException(error);
        return specification.Kind switch
        {
            VerifierKind.Classifier => throw new ArgumentException($"verifier '{Verifier}': the search verifies with rule or llm[:ENDPOINT], not a classifier."),
            VerifierKind.Rule when JudgeEndpoint is not null =>
                throw new ArgumentException($"judgeEndpoint '{JudgeEndpoint}' is given, but the verifier is rule (no judge); drop one of them."),
            VerifierKind.Llm when specification.Endpoint is not null && JudgeEndpoint is not null &&
                                  !string.Equals(specification.Endpoint, JudgeEndpoint, StringComparison.OrdinalIgnoreCase) =>
                throw new ArgumentException($"verifier '{Verifier}' and judgeEndpoint '{JudgeEndpoint}' name different judges; give one."),
            VerifierKind.Llm => VerifierSpecification.Llm(specification.Endpoint ?? JudgeEndpoint ?? Endpoint),
            _ => specification,
        };
    }

    /// <summary>The search's options, unset values taking the mode's defaults (efficient: the reference script's).</summary>
    public Reasoning.Search.SearchOptions ToSearchOptions()
    {
        var defaults = EfficientSearch ? Reasoning.Search.SearchOptions.ReferenceEfficient : new Reasoning.Search.SearchOptions();
        return defaults with
        {
            MaxDepth = MaxDepth ?? defaults.MaxDepth,
            MaxAttempts = MaxAttempts ?? defaults.MaxAttempts,
            EfficientSearch = EfficientSearch,
            ReuseInitialReasoning = ReuseInitialReasoning ?? defaults.ReuseInitialReasoning,
            Language = Reasoning.Prompts.PromptLanguages.Parse(Language),
            Seed = Seed,
        };
    }

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static SearchRunParameters FromJson(string json) =>
        JsonSerializer.Deserialize<SearchRunParameters>(json, Json) ?? throw new InvalidOperationException("search run parameters are empty");
}
