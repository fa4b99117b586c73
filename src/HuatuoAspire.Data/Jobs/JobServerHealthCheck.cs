using Hangfire;
using HangfireStorage = Hangfire.JobStorage;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HuatuoAspire.Data.Jobs;

/// <summary>Healthy when this process's Hangfire server for <paramref name="serverName"/> has sent a recent heartbeat.</summary>
public sealed class JobServerHealthCheck(HangfireStorage storage, string serverName) : IHealthCheck
{
    private static readonly TimeSpan MaxHeartbeatAge = TimeSpan.FromMinutes(1);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var prefix = $"{serverName}:{Environment.MachineName}:{Environment.ProcessId}";
        var server = storage.GetMonitoringApi().Servers()
            .FirstOrDefault(s => s.Name.StartsWith(prefix, StringComparison.Ordinal));
        if (server is null)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"No Hangfire server '{prefix}' is registered yet."));
        }
        var age = DateTime.UtcNow - (server.Heartbeat ?? server.StartedAt);
        return Task.FromResult(age <= MaxHeartbeatAge
            ? HealthCheckResult.Healthy($"Serving {string.Join(", ", server.Queues)} with {server.WorkersCount} workers.")
            : HealthCheckResult.Unhealthy($"Last heartbeat {age.TotalSeconds:F0} s ago."));
    }
}
