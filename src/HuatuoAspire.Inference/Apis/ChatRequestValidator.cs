using System.Text;
using System.Text.Json;
using HuatuoAspire.Inference.Contracts;
using HuatuoAspire.Inference.Scheduling;
using HuatuoAspire.Inference.Serving;
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

        return new GenerationRequest(
            r.Model,
            messages,
            r.MaxCompletionTokens ?? r.MaxTokens,
            StopStrings(r.Stop),
            new SamplingSettings((float)(r.Temperature ?? 1.0), (float)(r.TopP ?? 1.0), r.Seed));
    }

    private static string ContentText(JsonElement? content, int index)
    {
        if (content is not { } c || c.ValueKind == JsonValueKind.Null) return "";
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
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
