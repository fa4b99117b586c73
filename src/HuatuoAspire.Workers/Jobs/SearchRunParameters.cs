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
    public int MaxDepth { get; init; } = 3;
    public int MaxAttempts { get; init; } = 3;
    public bool EfficientSearch { get; init; }
    public int Seed { get; init; } = 42;
    public int? Limit { get; init; }

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static SearchRunParameters FromJson(string json) =>
        JsonSerializer.Deserialize<SearchRunParameters>(json, Json) ?? throw new InvalidOperationException("search run parameters are empty");
}
