using System.Text.Json.Serialization;

namespace HuatuoAspire.Inference.Contracts;

/// <summary>OpenAI's error body: <c>{"error":{"message","type","param","code"}}</c>.</summary>
public sealed record OpenAiErrorResponse(OpenAiError Error);

public sealed record OpenAiError(
    string Message,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);

/// <summary>
/// A request the service refuses, with the HTTP status and OpenAI error fields it is answered with.
/// Thrown by validation and by the scheduler before a response has started.
/// </summary>
public sealed class InferenceRequestException(int status, string message, string type, string? param = null, string? code = null,
    TimeSpan? retryAfter = null) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    public TimeSpan? RetryAfter { get; } = retryAfter;

    public OpenAiErrorResponse ToResponse() => new(new OpenAiError(Message, Type, Param, Code));

    public static InferenceRequestException InvalidParameter(string param, string message) =>
        new(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, "invalid_value");

    public static InferenceRequestException ModelNotFound(string requested, string served) =>
        new(StatusCodes.Status404NotFound, $"The model '{requested}' does not exist; this service serves '{served}'.",
            "invalid_request_error", "model", "model_not_found");

    public static InferenceRequestException ContextLengthExceeded(string message) =>
        new(StatusCodes.Status400BadRequest, message, "invalid_request_error", "messages", "context_length_exceeded");

    public static InferenceRequestException QueueFull(int maxQueue, TimeSpan retryAfter) =>
        new(StatusCodes.Status429TooManyRequests,
            $"The server is busy: {maxQueue} requests are already waiting (Inference:MaxQueue). Retry after {retryAfter.TotalSeconds:0} s.",
            "rate_limit_exceeded", null, "queue_full", retryAfter);

    public static InferenceRequestException NoModel(string reason) =>
        new(StatusCodes.Status503ServiceUnavailable, reason, "server_error", null, "model_not_loaded", TimeSpan.FromSeconds(5));
}
