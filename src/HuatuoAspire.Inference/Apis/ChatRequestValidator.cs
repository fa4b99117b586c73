using System.Text;
using System.Text.Json;
using HuatuoAspire.Inference.Contracts;
using HuatuoAspire.Inference.Scheduling;
using HuatuoAspire.Inference.Serving;
using HuatuoAspire.Model.StructuredOutput;
using HuatuoAspire.Model.Tokenization.ChatTemplates;

namespace HuatuoAspire.Inference.Apis;

/// <summary>Reads and checks a chat completion request; every refusal names the parameter at fault (OpenAI's <c>param</c>).</summary>
public static class ChatRequestValidator
{
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    public static async Task<ChatCompletionRequest> ReadAsync(HttpRequest http, CancellationToken ct)
    {
        if (http.ContentLength == 0) throw InferenceRequestException.InvalidParameter("body", "The request body is empty; send a JSON object.");
        try
        {
            return await JsonSerializer.DeserializeAsync<ChatCompletionRequest>(http.Body, InferenceJson.Options, ct)
                   ?? throw InferenceRequestException.InvalidParameter("body", "The request body is JSON null; send a JSON object.");
        }
        catch (JsonException e)
        {
            var param = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "body" : e.Path.TrimStart('$', '.');
            throw InferenceRequestException.InvalidParameter(param,
                $"The request body is not valid at '{param}' (line {e.LineNumber + 1}, byte {e.BytePositionInLine}): {FirstSentence(e.Message)}");
        }
    }

    public static GenerationRequest Validate(ChatCompletionRequest r)
    {
        if (string.IsNullOrWhiteSpace(r.Model)) throw InferenceRequestException.InvalidParameter("model", "'model' is required.");
        if (r.Messages is not { Count: > 0 }) throw InferenceRequestException.InvalidParameter("messages", "'messages' must be a non-empty array.");
        var messages = new List<ChatMessage>(r.Messages.Count);
        for (var i = 0; i < r.Messages.Count; i++)
        {
            var m = r.Messages[i];
            if (m.Role is null || !Roles.Contains(m.Role))
            {
                throw InferenceRequestException.InvalidParameter($"messages[{i}].role",
                    $"messages[{i}].role is '{m.Role}'; expected one of {string.Join(", ", Roles)}.");
            }
            messages.Add(new ChatMessage(m.Role == "developer" ? "system" : m.Role, ContentText(m.Content, i)));
        }
        if (r.Temperature is { } t && (double.IsNaN(t) || t < 0 || t > 2))
            throw InferenceRequestException.InvalidParameter("temperature", $"temperature is {t}; it must be between 0 and 2.");
        if (r.TopP is { } p && (double.IsNaN(p) || p <= 0 || p > 1))
            throw InferenceRequestException.InvalidParameter("top_p", $"top_p is {p}; it must be greater than 0 and at most 1.");
        if (r.MaxTokens is { } mt && mt < 1)
            throw InferenceRequestException.InvalidParameter("max_tokens", $"max_tokens is {mt}; it must be at least 1.");
        if (r.MaxCompletionTokens is { } mct && mct < 1)
            throw InferenceRequestException.InvalidParameter("max_completion_tokens", $"max_completion_tokens is {mct}; it must be at least 1.");
        if (r.N is { } n && n != 1)
            throw InferenceRequestException.InvalidParameter("n", $"n is {n}; this service returns one choice per request (n = 1).");
        if (r.ReasoningFormat is { } rf && rf is not ("separate" or "raw"))
            throw InferenceRequestException.InvalidParameter("reasoning_format", $"reasoning_format is '{rf}'; expected 'separate' (default) or 'raw'.");
        if (r.StreamOptions is not null && r.Stream != true)
            throw InferenceRequestException.InvalidParameter("stream_options", "stream_options is only allowed when stream is true.");

        if (r.TopLogprobs is { } top)
        {
            if (top is < 0 or > 20)
                throw InferenceRequestException.InvalidParameter("top_logprobs", $"top_logprobs is {top}; it must be between 0 and 20.");
            if (r.Logprobs != true)
                throw InferenceRequestException.InvalidParameter("top_logprobs", "top_logprobs needs logprobs set to true.");
        }
        var responseFormat = ResponseFormat(r.ResponseFormat);
        CheckNoTools(r);

        return new GenerationRequest(
            r.Model,
            messages,
            r.MaxCompletionTokens ?? r.MaxTokens,
            StopStrings(r.Stop),
            new SamplingSettings((float)(r.Temperature ?? 1.0), (float)(r.TopP ?? 1.0), r.Seed, r.Logprobs == true ? r.TopLogprobs ?? 0 : 0),
            r.Logprobs == true,
            responseFormat);
    }

    // json_object and json_schema are enforced by constrained decoding: the reply is valid JSON (of the schema) unless
    // max_tokens or a stop string cuts it. A schema outside the supported subset is refused, naming what is not
    // supported, rather than half enforced; a client can then fall back knowingly (the pipeline's LlmEndpoint retries
    // once without the schema and parses the free text).
    private static JsonGrammar? ResponseFormat(JsonElement? format)
    {
        if (format is not { } f || f.ValueKind == JsonValueKind.Null) return null;
        var type = f.ValueKind == JsonValueKind.Object && f.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        switch (type)
        {
            case "text":
                return null;
            case "json_object":
                return JsonGrammar.AnyObjectGrammar;
            case "json_schema":
                if (!f.TryGetProperty("json_schema", out var spec) || spec.ValueKind != JsonValueKind.Object)
                    throw InferenceRequestException.InvalidParameter("response_format.json_schema", "response_format type 'json_schema' needs a 'json_schema' object with a 'schema'.");
                if (!spec.TryGetProperty("schema", out var schema) || schema.ValueKind is not (JsonValueKind.Object or JsonValueKind.True))
                    throw InferenceRequestException.InvalidParameter("response_format.json_schema.schema", "response_format.json_schema.schema must be a JSON Schema object.");
                try
                {
                    return JsonSchemaCompiler.Compile(schema);
                }
                catch (UnsupportedJsonSchemaException e)
                {
                    throw new InferenceRequestException(StatusCodes.Status400BadRequest, e.Message, "invalid_request_error",
                        "response_format.json_schema.schema", "unsupported");
                }
            default:
                throw InferenceRequestException.InvalidParameter("response_format",
                    $"response_format must be an object with type 'text', 'json_object' or 'json_schema' (got {(type is null ? f.GetRawText() : "'" + type + "'")}).");
        }
    }

    private static void CheckNoTools(ChatCompletionRequest r)
    {
        static bool Given(JsonElement? e) => e is { ValueKind: not JsonValueKind.Null };
        static bool IsNone(JsonElement? e) => e is { ValueKind: JsonValueKind.String } s && s.GetString() == "none";
        if (Given(r.Tools) && !(r.Tools!.Value.ValueKind == JsonValueKind.Array && r.Tools.Value.GetArrayLength() == 0))
            throw Unsupported("tools", "Tool calling is not supported by this service: send the request without 'tools'.");
        if (Given(r.ToolChoice) && !IsNone(r.ToolChoice))
            throw Unsupported("tool_choice", "Tool calling is not supported by this service: tool_choice may only be 'none'.");
        if (Given(r.Functions) && !(r.Functions!.Value.ValueKind == JsonValueKind.Array && r.Functions.Value.GetArrayLength() == 0))
            throw Unsupported("functions", "Function calling is not supported by this service: send the request without 'functions'.");
        if (Given(r.FunctionCall) && !IsNone(r.FunctionCall))
            throw Unsupported("function_call", "Function calling is not supported by this service: function_call may only be 'none'.");
    }

    private static InferenceRequestException Unsupported(string param, string message) =>
        new(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, "unsupported");

    // JSON may escape a lone surrogate (\ud800), which is no text at all: a 400 naming the field, not a 500.
    private static string StringOf(JsonElement element, string param)
    {
        try
        {
            return element.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw InferenceRequestException.InvalidParameter(param, $"{param} is not valid text: {e.Message}");
        }
    }

    private static string ContentText(JsonElement? content, int index)
    {
        if (content is not { } c || c.ValueKind == JsonValueKind.Null) return "";
        if (c.ValueKind == JsonValueKind.String) return StringOf(c, $"messages[{index}].content");
        if (c.ValueKind != JsonValueKind.Array)
            throw InferenceRequestException.InvalidParameter($"messages[{index}].content", $"messages[{index}].content must be a string or an array of content parts.");
        var text = new StringBuilder();
        var part = 0;
        foreach (var item in c.EnumerateArray())
        {
            var type = item.ValueKind == JsonValueKind.Object && item.TryGetProperty("type", out var tp) ? tp.GetString() : null;
            if (type != "text" || !item.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
            {
                throw InferenceRequestException.InvalidParameter($"messages[{index}].content[{part}]",
                    $"messages[{index}].content[{part}] is not a text part ({{\"type\":\"text\",\"text\":\"...\"}}); this model reads text only.");
            }
            text.Append(t.GetString());
            part++;
        }
        return text.ToString();
    }

    private static IReadOnlyList<string> StopStrings(JsonElement? stop)
    {
        if (stop is not { } s || s.ValueKind == JsonValueKind.Null) return [];
        List<string> list;
        if (s.ValueKind == JsonValueKind.String) list = [s.GetString()!];
        else if (s.ValueKind == JsonValueKind.Array && s.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            list = s.EnumerateArray().Select(e => e.GetString()!).ToList();
        else throw InferenceRequestException.InvalidParameter("stop", "stop must be a string or an array of strings.");
        if (list.Count > 4) throw InferenceRequestException.InvalidParameter("stop", $"stop has {list.Count} strings; at most 4 are allowed.");
        if (list.Any(x => x.Length == 0)) throw InferenceRequestException.InvalidParameter("stop", "stop strings must not be empty.");
        return list;
    }

    private static string FirstSentence(string message) => message.Split(" Path:", 2)[0];
}
