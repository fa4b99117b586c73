using System.Text.Json;
using System.Text.Json.Serialization;

namespace HuatuoAspire.Inference.Contracts;

/// <summary>The body of <c>POST /v1/chat/completions</c> (fields this service reads; others are ignored, as OpenAI clients send many).</summary>
public sealed class ChatCompletionRequest
{
    public string? Model { get; set; }
    public List<ChatMessageDto>? Messages { get; set; }
    public double? Temperature { get; set; }
    public double? TopP { get; set; }
    public int? MaxTokens { get; set; }
    public int? MaxCompletionTokens { get; set; }

    /// <summary>A string or an array of up to 4 strings.</summary>
    public JsonElement? Stop { get; set; }

    public long? Seed { get; set; }
    public int? N { get; set; }
    public bool? Stream { get; set; }
    public StreamOptionsDto? StreamOptions { get; set; }

    /// <summary>
    /// This service's extension: <c>"separate"</c> (default) returns the <c>## Thinking</c> part as
    /// <c>reasoning_content</c> and the <c>## Final Response</c> part as <c>content</c>; <c>"raw"</c> returns the
    /// whole generated text as <c>content</c>.
    /// </summary>
    public string? ReasoningFormat { get; set; }

    /// <summary>Return the log-probability of every generated token (<c>choices[].logprobs.content</c>).</summary>
    public bool? Logprobs { get; set; }

    /// <summary>0-20 most likely alternatives per token; needs <see cref="Logprobs"/>.</summary>
    public int? TopLogprobs { get; set; }

    /// <summary>
    /// <c>{"type": "text"}</c>, <c>{"type": "json_object"}</c> or <c>{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}</c>:
    /// the JSON forms are enforced by constrained decoding.
    /// </summary>
    public JsonElement? ResponseFormat { get; set; }

    /// <summary>Tool calling is not supported: any tool is refused.</summary>
    public JsonElement? Tools { get; set; }

    public JsonElement? ToolChoice { get; set; }

    public JsonElement? Functions { get; set; }

    public JsonElement? FunctionCall { get; set; }
}

/// <summary>OpenAI's <c>choices[].logprobs</c>.</summary>
public sealed record LogprobsDto(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] IReadOnlyList<TokenLogprobDto>? Content,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] IReadOnlyList<TokenLogprobDto>? Refusal);

/// <summary>One generated token: its text, raw log-probability (log_softmax at T = 1), UTF-8 bytes and the top alternatives.</summary>
public sealed record TokenLogprobDto(string Token, float Logprob, int[] Bytes, IReadOnlyList<TopLogprobDto> TopLogprobs);

public sealed record TopLogprobDto(string Token, float Logprob, int[] Bytes);

public sealed class StreamOptionsDto
{
    public bool? IncludeUsage { get; set; }
}

public sealed class ChatMessageDto
{
    public string? Role { get; set; }

    /// <summary>A string, or an array of content parts of which the <c>text</c> parts are used.</summary>
    public JsonElement? Content { get; set; }
}

public sealed record ChatCompletionResponse(
    string Id,
    string Object,
    long Created,
    string Model,
    IReadOnlyList<ChatCompletionChoice> Choices,
    UsageDto Usage);

public sealed record ChatCompletionChoice(
    int Index,
    AssistantMessageDto Message,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] object? Logprobs);

public sealed record AssistantMessageDto(
    string Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Content,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ReasoningContent);

public sealed record UsageDto(int PromptTokens, int CompletionTokens, int TotalTokens);

public sealed record ChatCompletionChunk(
    string Id,
    string Object,
    long Created,
    string Model,
    IReadOnlyList<ChatCompletionChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] UsageDto? Usage);

public sealed record ChatCompletionChunkChoice(
    int Index,
    ChunkDelta Delta,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] object? Logprobs);

public sealed record ChunkDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ReasoningContent);

public sealed record ModelListResponse(string Object, IReadOnlyList<ModelDto> Data);

public sealed record ModelDto(string Id, string Object, long Created, string OwnedBy);

/// <summary>Body of <c>POST /admin/inference/model</c>.</summary>
public sealed class SwitchModelRequest
{
    /// <summary>A Hugging Face model folder on the service's disk.</summary>
    public string? Path { get; set; }

    /// <summary>Instead of <see cref="Path"/>: a checkpoint in blob storage (the folder's blobs share this prefix), downloaded and verified first.</summary>
    public string? BlobPrefix { get; set; }

    /// <summary>The name to serve it under; defaults to the current name.</summary>
    public string? ModelId { get; set; }
}

public sealed record SwitchModelResponse(string Model, string Source, string OwnedBy, int ContextLength);

public static class InferenceJson
{
    /// <summary>OpenAI's wire format: snake_case names, nulls written only where the schema always has the field.</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.Strict,
    };
}
