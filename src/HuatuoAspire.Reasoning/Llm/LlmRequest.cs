using System.Text.Json.Nodes;
using HuatuoAspire.Domain;

namespace HuatuoAspire.Reasoning.Llm;

public enum ChatRole
{
    System,
    User,
    Assistant,
}

public sealed record ChatTurn(ChatRole Role, string Content);

/// <summary>A JSON schema for structured output (OpenAI response_format json_schema).</summary>
public sealed record JsonSchemaFormat(string Name, string Schema);

public sealed record LlmRequest(IReadOnlyList<ChatTurn> Messages)
{
    public JsonSchemaFormat? ResponseSchema { get; init; }
    public int? MaxTokens { get; init; }
    public double? Temperature { get; init; }
    public double? TopP { get; init; }
    /// <summary>
    /// Retry a 200 whose body cannot be read (a cut-off stream). Off where the caller records such a reply as the
    /// endpoint's failure and asks again later (the benchmark harness counts it apart and re-asks it on a resume).
    /// </summary>
    public bool RetryUnreadableReply { get; init; } = true;
    /// <summary>What the call is for ("init-cot", "verify", ...): a span attribute and a trace label.</summary>
    public string Purpose { get; init; } = "chat";

    public static LlmRequest FromPrompt(string prompt, string purpose, JsonSchemaFormat? schema = null) =>
        new([new ChatTurn(ChatRole.User, prompt)]) { Purpose = purpose, ResponseSchema = schema };
}

public sealed record LlmCompletion(string Text, LlmUsage Usage, TimeSpan Elapsed, string Model, bool StructuredOutputUsed);

/// <summary>The outcome of asking for JSON: the parsed object, or the error; every raw reply is kept.</summary>
public sealed record StructuredCompletion<T>(T? Value, string? Error, IReadOnlyList<string> RawOutputs, LlmUsage Usage)
    where T : class
{
    public bool Succeeded => Value is not null;
}

/// <summary>Validates a parsed JSON object into <typeparamref name="T"/>, or says what is wrong with it.</summary>
public delegate T? JsonValidator<T>(JsonObject json, out string error) where T : class;

/// <summary>The endpoint answered with an error that retries did not cure (or that no retry can cure).</summary>
public sealed class LlmCallException(string endpoint, string message, Exception? inner = null)
    : Exception($"LLM endpoint '{endpoint}': {message}", inner)
{
    public string Endpoint { get; } = endpoint;
}
