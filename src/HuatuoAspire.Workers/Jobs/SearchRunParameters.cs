using System.Text.Json;

namespace HuatuoAspire.Workers.Jobs;

/// <summary>What a search run does; stored as the run's Parameters (jsonb) and read back by every item job.</summary>
public sealed record SearchRunParameters
{
    /// <summary>Search only this dataset's Accepted problems (all datasets when null).</summary>
    public long? DatasetId { get; init; }
    /// <summary>The named LLM endpoint that writes the reasoning (Llm:Endpoints:&lt;name&gt;); null: the default
    /// endpoint (<c>Llm:DefaultEndpoint</c>, else our own inference service).</summary>
    public string? Endpoint { get; init; }
    /// <summary>The LLM judge's endpoint; the generating endpoint when null.</summary>
    public string? JudgeEndpoint { get; init; }
    /// <summary>"llm" (LLM judge) or "rule" (RuleVerifier, no LLM).</summary>
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
