using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HuatuoAspire.AppHost.Infrastructure;

/// <summary>Healthy once Azurite's blob service answers HTTP (an unsigned list request gets 403: it is listening).</summary>
public sealed class AzuriteHealthCheck(BlobStorageResource blobs) : IHealthCheck
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var endpoint = blobs.BlobEndpoint;
        if (!endpoint.IsAllocated) return HealthCheckResult.Unhealthy("The blob endpoint is not allocated yet.");
        var url = $"http://{endpoint.Host}:{endpoint.Port}/{LocalServers.AzuriteServer.AccountName}?comp=list";
        try
        {
            using var response = await Http.GetAsync(url, cancellationToken);
            return HealthCheckResult.Healthy($"Azurite answers ({(int)response.StatusCode}).");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"Azurite does not answer on {url}: {ex.Message}");
        }
    }
}
