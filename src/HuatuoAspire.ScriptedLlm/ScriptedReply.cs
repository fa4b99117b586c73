namespace HuatuoAspire.ScriptedLlm;

/// <summary>What the scripted server does with one request.</summary>
public enum ScriptedReplyKind
{
    /// <summary>A normal completion with text content (streamed as SSE chunks when the request asks for it).</summary>
    Text,

    /// <summary>An HTTP error status with a body in OpenAI's error JSON shape.</summary>
    Error,

    /// <summary>Status 200 with a body that is not valid JSON (or, when streaming, a broken SSE chunk).</summary>
    Malformed,

    /// <summary>The connection is aborted without a response (or mid-stream, after <see cref="ScriptedReply.DropAfterChunks"/>).</summary>
    Drop,
}

/// <summary>
/// One scripted answer. Build it with the static factories, then adjust it with <c>with</c> or <see cref="After"/>:
/// <c>ScriptedReply.Text("The answer is B.").After(TimeSpan.FromMilliseconds(50))</c>.
/// </summary>
public sealed record ScriptedReply
{
    public ScriptedReplyKind Kind { get; init; }

    /// <summary>Assistant message content (Text kind).</summary>
    public string Content { get; init; } = "";

    /// <summary>Optional <c>reasoning_content</c> field (the vLLM/DeepSeek reasoning convention).</summary>
    public string? ReasoningContent { get; init; }

    /// <summary>Usage counts; when null they are estimated as whitespace-separated words.</summary>
    public int? PromptTokens { get; init; }

    public int? CompletionTokens { get; init; }

    public string FinishReason { get; init; } = "stop";

    /// <summary>HTTP status for the Error kind.</summary>
    public int StatusCode { get; init; } = 200;

    public string ErrorMessage { get; init; } = "";

    public string ErrorType { get; init; } = "server_error";

    public string? ErrorCode { get; init; }

    /// <summary>Sent as the <c>Retry-After</c> header (whole seconds, rounded up) and <c>retry-after-ms</c>.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>The raw body of a Malformed reply.</summary>
    public string RawBody { get; init; } = "";

    /// <summary>Wait this long before answering (cancelled when the client goes away).</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>When streaming: how many characters per content chunk (0 = one chunk per word).</summary>
    public int StreamChunkCharacters { get; init; }

    /// <summary>When streaming: wait this long between content chunks.</summary>
    public TimeSpan StreamChunkDelay { get; init; }

    /// <summary>Drop kind while streaming: content chunks sent before the connection is aborted.</summary>
    public int DropAfterChunks { get; init; }

    public static ScriptedReply Text(string content, int? promptTokens = null, int? completionTokens = null,
        string? reasoningContent = null, string finishReason = "stop") => new()
    {
        Kind = ScriptedReplyKind.Text,
        Content = content,
        PromptTokens = promptTokens,
        CompletionTokens = completionTokens,
        ReasoningContent = reasoningContent,
        FinishReason = finishReason,
    };

    public static ScriptedReply Error(int statusCode, string message, string type = "server_error", string? code = null,
        TimeSpan? retryAfter = null) => new()
    {
        Kind = ScriptedReplyKind.Error,
        StatusCode = statusCode,
        ErrorMessage = message,
        ErrorType = type,
        ErrorCode = code,
        RetryAfter = retryAfter,
    };

    /// <summary>429 with <c>Retry-After</c>, as OpenAI sends when a rate limit is hit.</summary>
    public static ScriptedReply RateLimited(TimeSpan retryAfter, string message = "Rate limit reached, retry later.") =>
        Error(429, message, "rate_limit_exceeded", "rate_limit_exceeded", retryAfter);

    public static ScriptedReply ServerError(string message = "The server had an error while processing your request.") =>
        Error(500, message, "server_error");

    public static ScriptedReply Overloaded(TimeSpan? retryAfter = null) =>
        Error(503, "The engine is currently overloaded, please try again later.", "server_error", "overloaded", retryAfter);

    public static ScriptedReply BadRequest(string message, string? code = null) =>
        Error(400, message, "invalid_request_error", code);

    /// <summary>200 with a truncated JSON body: what a crashing proxy or a cut connection can produce.</summary>
    public static ScriptedReply Malformed(string rawBody = "{\"id\":\"chatcmpl-truncated\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"The answ") =>
        new() { Kind = ScriptedReplyKind.Malformed, RawBody = rawBody };

    /// <summary>Aborts the connection (after <paramref name="afterChunks"/> content chunks when streaming).</summary>
    public static ScriptedReply Drop(int afterChunks = 0) => new() { Kind = ScriptedReplyKind.Drop, DropAfterChunks = afterChunks };

    public ScriptedReply After(TimeSpan delay) => this with { Delay = delay };
}
