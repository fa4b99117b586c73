using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>What a service answered to an admin action: its status and a message fit for the page.</summary>
public sealed record ServiceAnswer(bool Succeeded, int Status, string Message, long? Id)
{
    public static ServiceAnswer Refused { get; } = new(false, StatusCodes.Status403Forbidden, "Refused: admin actions need an administrator (sign in).", null);
}

/// <summary>
/// The dashboard's admin forms call the services' own APIs (workers, trainer, inference), so the logic and the
/// checks live in one place. A service is addressed by its name (<c>https+http://workers</c>) and found by service
/// discovery from what Aspire or <c>huatuo up</c> announces (<c>services__workers__http__0</c>, …); in an all-in-one
/// host on a port chosen at start, the service is this process at its own address. The dashboard proves itself with
/// the admin password as a bearer key when one is set; without one the services apply the same loopback rule to it as
/// to anyone.
/// </summary>
public sealed class ServiceApis(IHttpClientFactory clients, IConfiguration configuration, IServer server)
{
    public const string Workers = ServiceNames.Workers;
    public const string Trainer = ServiceNames.Trainer;
    public const string Inference = ServiceNames.Inference;
    /// <summary>The HTTP client the admin calls go through (registered by <c>AddDashboard</c> without retries).</summary>
    public const string ClientName = "service-apis";

    public Uri BaseAddress(string service)
    {
        if (configuration.GetSection($"services:{service}").Exists()) return new Uri($"https+http://{service}/");
        // Not announced: in the all-in-one host the service runs in this process; call our own first address.
        // Anywhere else that is a configuration error.
        var own = configuration.GetValue<bool>("Dashboard:ServicesInProcess") ? server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() : null;
        if (own is null) throw new InvalidOperationException($"The {service} service's address is not configured (services__{service}__http__0).");
        return ListeningAddress.Reachable(own);
    }

    public Task<ServiceAnswer> PostJsonAsync(string service, string path, object body, CancellationToken ct) =>
        SendAsync(service, path, JsonContent.Create(body, body.GetType()), ct);

    public async Task<ServiceAnswer> SendAsync(string service, string path, HttpContent? content, CancellationToken ct)
    {
        Uri baseAddress;
        try
        {
            baseAddress = BaseAddress(service);
        }
        catch (InvalidOperationException e)
        {
            return new ServiceAnswer(false, StatusCodes.Status503ServiceUnavailable, e.Message, null);
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseAddress, path)) { Content = content };
        if (configuration["Admin:Password"] is { Length: > 0 } password) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", password);
        HttpResponseMessage response;
        try
        {
            response = await clients.CreateClient(ClientName).SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            return new ServiceAnswer(false, StatusCodes.Status502BadGateway, $"The {service} service could not be reached: {e.Message}", null);
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            return new ServiceAnswer(response.IsSuccessStatusCode, (int)response.StatusCode, Describe(response, text), IdOf(text));
        }
    }

    /// <summary>The useful part of an answer: a problem's detail or errors, an OpenAI-style error's message, else the body.</summary>
    private static string Describe(HttpResponseMessage response, string text)
    {
        if (response.IsSuccessStatusCode) return Uploaded(text) ?? "Done.";
        try
        {
            using var json = JsonDocument.Parse(text);
            var root = json.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
                    return string.Join(" ", errors.EnumerateObject().SelectMany(e => e.Value.EnumerateArray().Select(v => v.GetString())));
                if (root.TryGetProperty("detail", out var detail) && detail.ValueKind == JsonValueKind.String) return detail.GetString()!;
                if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object &&
                    error.TryGetProperty("message", out var message)) return message.GetString() ?? text;
            }
        }
        catch (JsonException)
        {
        }
        return text.Length > 0 ? text : $"{(int)response.StatusCode} {response.ReasonPhrase}";
    }

    /// <summary>An upload's answer: where the blobs now are, as the training forms take it.</summary>
    private static string? Uploaded(string text)
    {
        try
        {
            using var json = JsonDocument.Parse(text);
            var root = json.RootElement;
            return root.ValueKind == JsonValueKind.Object && root.TryGetProperty("reference", out var reference) && root.TryGetProperty("blobs", out var blobs)
                ? $"Uploaded {blobs.GetInt32()} blob(s) with their SHA-256: use {reference.GetString()}." : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static long? IdOf(string text)
    {
        try
        {
            using var json = JsonDocument.Parse(text);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("id", out var id) && id.TryGetInt64(out var value)
                ? value : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
