using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Inference.Contracts;

namespace HuatuoAspire.Inference.Clients;

/// <summary>One piece of a streamed reply as it arrived: reasoning and/or answer text, or the final usage.</summary>
public sealed record StreamedPiece(string? Reasoning, string? Content, string? FinishReason, UsageDto? Usage, long ArrivedAtTicks);

/// <summary>
/// A small streaming client for any OpenAI-compatible chat endpoint that also reads this service's
/// <c>reasoning_content</c> (the official .NET client drops it). Used by <c>huatuo chat</c> and <c>huatuo bench serve</c>.
/// </summary>
public sealed class ChatStreamClient(HttpClient http, string baseUrl, string? apiKey)
{
    private readonly string _base = baseUrl.TrimEnd('/').EndsWith("/v1", StringComparison.Ordinal) ? baseUrl.TrimEnd('/') : baseUrl.TrimEnd('/') + "/v1";

    /// <summary>The first model the server lists.</summary>
    public async Task<string> FirstModelAsync(CancellationToken ct)
    {
        using var request = Authorize(new HttpRequestMessage(HttpMethod.Get, _base + "/models"));
        using var response = await http.SendAsync(request, ct);
        await EnsureSuccessAsync(response, ct);
        var list = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!;
        return list["data"]?.AsArray().FirstOrDefault()?["id"]?.GetValue<string>()
               ?? throw new InvalidOperationException($"{_base}/models lists no model.");
    }

    public async IAsyncEnumerable<StreamedPiece> StreamAsync(string model, IReadOnlyList<(string Role, string Content)> messages,
        int? maxTokens, double? temperature, [EnumeratorCancellation] CancellationToken ct)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray(messages.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content }).ToArray()),
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        if (maxTokens is { } mt) body["max_tokens"] = mt;
        if (temperature is { } t) body["temperature"] = t;
        using var request = Authorize(new HttpRequestMessage(HttpMethod.Post, _base + "/chat/completions") { Content = JsonContent.Create(body) });
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        await EnsureSuccessAsync(response, ct);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            var data = line["data: ".Length..];
            if (data == "[DONE]") yield break;
            var chunk = JsonNode.Parse(data)!;
            if (chunk["error"] is { } error) throw new InvalidOperationException("The server ended the stream with an error: " + error["message"]);
            var now = System.Diagnostics.Stopwatch.GetTimestamp();
            var choice = chunk["choices"]?.AsArray().FirstOrDefault();
            var usage = chunk["usage"] is JsonObject u ? u.Deserialize<UsageDto>(InferenceJson.Options) : null;
            yield return new StreamedPiece(
                choice?["delta"]?["reasoning_content"]?.GetValue<string>(),
                choice?["delta"]?["content"]?.GetValue<string>(),
                choice?["finish_reason"]?.GetValue<string>(),
                usage,
                now);
        }
    }

    private HttpRequestMessage Authorize(HttpRequestMessage request)
    {
        if (!string.IsNullOrEmpty(apiKey)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return request;
    }

    private async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        var text = await response.Content.ReadAsStringAsync(ct);
        string? message = null;
        try { message = JsonNode.Parse(text)?["error"]?["message"]?.GetValue<string>(); } catch (JsonException) { }
        throw new HttpRequestException($"{(int)response.StatusCode} from {response.RequestMessage?.RequestUri}: {message ?? text}", null, response.StatusCode);
    }
}
