using System.Text.Json.Nodes;

namespace HuatuoAspire.Inference.FunctionalTests;

/// <summary>Reads an OpenAI server-sent event stream as raw lines, the way a client sees it.</summary>
public static class SseReader
{
    public static async Task<HttpResponseMessage> OpenAsync(HttpClient http, object body, CancellationToken ct = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = System.Net.Http.Json.JsonContent.Create(body) };
        return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
    }

    /// <summary>Every <c>data:</c> payload until <c>[DONE]</c> (included as a null entry) or the end of the stream.</summary>
    public static async IAsyncEnumerable<JsonNode?> ReadAsync(HttpResponseMessage response,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            var data = line["data: ".Length..];
            if (data == "[DONE]")
            {
                yield return null;
                yield break;
            }
            yield return JsonNode.Parse(data);
        }
    }
}
