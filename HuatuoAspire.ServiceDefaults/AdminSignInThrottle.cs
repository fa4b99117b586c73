using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Net.Http.Headers;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Brute-force protection for the admin password, shared by the sign-in form and the bearer key: a token bucket per
/// client address (System.Threading.RateLimiting, the limiter behind ASP.NET Core's rate-limiting middleware) that
/// only wrong passwords drain. While a client's bucket is empty every attempt from it, right or wrong, gets 429 with
/// Retry-After, so guessing learns nothing; the bucket refills by itself, so the real admin is never locked out for
/// longer than one refill period, and correct keys (the dashboard calling the services) never count.
/// Defaults: 5 wrong passwords at once, then one per 10 s (Admin:FailedSignInBurst, Admin:FailedSignInRefillSeconds).
/// </summary>
public sealed class AdminSignInThrottle : IDisposable
{
    private readonly PartitionedRateLimiter<string> _failures;
    private readonly TimeSpan _refill;

    public AdminSignInThrottle(IConfiguration configuration)
    {
        var burst = Math.Max(1, configuration.GetValue("Admin:FailedSignInBurst", 5));
        _refill = TimeSpan.FromSeconds(Math.Max(0.1, configuration.GetValue("Admin:FailedSignInRefillSeconds", 10.0)));
        _failures = PartitionedRateLimiter.Create<string, string>(client => RateLimitPartition.GetTokenBucketLimiter(client, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = burst,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = _refill,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    /// <summary>The client's partition: its address (the forwarded one behind a proxy with forwarded headers on).</summary>
    public static string ClientOf(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>False while the client has used up its wrong attempts; then answer <see cref="Refuse"/>.</summary>
    public bool Allows(HttpContext context) =>
        // A whole token, not a fraction of one: the partitioned bucket refills continuously, and a zero-permit
        // acquire would already succeed on a fraction.
        _failures.GetStatistics(ClientOf(context)) is not { } statistics || statistics.CurrentAvailablePermits >= 1;

    /// <summary>Counts a wrong password; false when that used up the client's attempts.</summary>
    public bool CountFailure(HttpContext context)
    {
        using var lease = _failures.AttemptAcquire(ClientOf(context));
        return lease.IsAcquired;
    }

    /// <summary>429 with Retry-After (one refill period: the next attempt is allowed by then).</summary>
    public void Refuse(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        context.Response.Headers[HeaderNames.RetryAfter] = Math.Ceiling(_refill.TotalSeconds).ToString(CultureInfo.InvariantCulture);
    }

    public void Dispose() => _failures.Dispose();
}
