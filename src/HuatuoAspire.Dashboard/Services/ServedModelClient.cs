using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>One piece of a streamed answer: thinking and/or answer text, or the request's token counts at the end.</summary>
public sealed record ChatDelta(string? Reasoning, string? Content, int? PromptTokens = null, int? CompletionTokens = null);

/// <summary>What the inference service says it serves.</summary>
public sealed record ServedModel(string Id, string? OwnedBy, long? Created);

/// <summary>
/// The dashboard as a client of the served model (the inference service's OpenAI-compatible <c>/v1</c>): which model is
/// served, and a streamed chat that keeps the <c>reasoning_content</c> (the thinking part) the official client drops.
/// Sends <c>Inference:ApiKey</c> when one is configured.
/// </summary>
public sealed class ServedModelClient(ServiceApis apis, IHttpClientFactory clients, IConfiguration configuration)
{
    /// <summary>Not the resilient default client: a chat completion must not be repeated, and a long answer streams for minutes.</summary>
    public const string ClientName = "served-model";

    private HttpClient Http => clients.CreateClient(ClientName);

    public async Task<IReadOnlyList<ServedModel>> ModelsAsync(CancellationToken ct)
    {
        using var request = Authorize(new HttpRequestMessage(HttpMethod.Get, new Uri(apis.BaseAddress(ServiceApis.Inference), "v1/models")));
        using var response = await Http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode) throw new HttpRequestException(ErrorOf(response, text), null, response.StatusCode);
        return JsonNode.Parse(text)?["data"]?.AsArray()
            .Select(m => new ServedModel(m!["id"]!.GetValue<string>(), m["owned_by"]?.GetValue<string>(), m["created"]?.GetValue<long>()))
            .ToList() ?? [];
    }

    /// <summary>Streams the answer to <paramref name="messages"/> (role, content) as it is generated.</summary>
    public async IAsyncEnumerable<ChatDelta> StreamAsync(string model, IReadOnlyList<(string Role, string Content)> messages,
        double temperature, int maxTokens, [EnumeratorCancellation] CancellationToken ct)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray([.. messages.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content })]),
            ["temperature"] = temperature,
            ["max_tokens"] = maxTokens,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        using var request = Authorize(new HttpRequestMessage(HttpMethod.Post, new Uri(apis.BaseAddress(ServiceApis.Inference), "v1/chat/completions"))
        {
            Content = JsonContent.Create(body),
        });
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException(ErrorOf(response, await response.Content.ReadAsStringAsync(ct)), null, response.StatusCode);
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        await foreach (var item in SseParser.Create(stream).EnumerateAsync(ct))
        {
            if (item.Data == "[DONE]") yield break;
            var chunk = JsonNode.Parse(item.Data)!;
            if (chunk["error"] is { } error) throw new InvalidOperationException("The model's stream ended with an error: " + error["message"]);
            var delta = chunk["choices"]?.AsArray().FirstOrDefault()?["delta"];
            var usage = chunk["usage"] as JsonObject;
            yield return new ChatDelta(delta?["reasoning_content"]?.GetValue<string>(), delta?["content"]?.GetValue<string>(),
                usage?["prompt_tokens"]?.GetValue<int>(), usage?["completion_tokens"]?.GetValue<int>());
        }
    }

    private HttpRequestMessage Authorize(HttpRequestMessage request)
    {
        if (configuration["Inference:ApiKey"] is { Length: > 0 } key) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    /// <summary>An OpenAI-style error's message, else the status and body.</summary>
    private static string ErrorOf(HttpResponseMessage response, string text)
    {
        try
        {
            if (JsonNode.Parse(text)?["error"]?["message"]?.GetValue<string>() is { } message) return $"{(int)response.StatusCode}: {message}";
        }
        catch (JsonException)
        {
        }
        return $"{(int)response.StatusCode} {response.ReasonPhrase}: {text}";
    }
}
