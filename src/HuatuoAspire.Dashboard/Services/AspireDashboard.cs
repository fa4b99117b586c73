using HuatuoAspire.Data.Jobs;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>
/// Links into the Aspire dashboard, where the AppHost runs the system: it passes its dashboard's address as
/// <c>Dashboard:AspireDashboardUrl</c> (Aspire gives its resources the OTLP endpoint, not the dashboard's page). Without it
/// (<c>huatuo up</c>, a deployment) there is no such dashboard and no link is shown.
/// </summary>
public static class AspireDashboard
{
    public const string UrlKey = "Dashboard:AspireDashboardUrl";

    /// <summary>The traces of the workers that work pipeline runs, or null when no Aspire dashboard is known.</summary>
    public static string? TracesOf(IConfiguration configuration, string resource = "workers") =>
        configuration[UrlKey] is { Length: > 0 } url && Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? $"{url.TrimEnd('/')}/traces/resource/{Uri.EscapeDataString(resource)}"
            : null;

    /// <summary>
    /// The traces of one run's jobs: <paramref name="resource"/>'s traces (the workers for pipeline and evaluation runs,
    /// the trainer for training runs, whose ids are counted apart) filtered on the run's tag, written as the Aspire
    /// dashboard writes its own filtered addresses (<c>filters=FIELD:equals:VALUE</c>). Null without an Aspire dashboard.
    /// </summary>
    public static string? RunTracesOf(IConfiguration configuration, string resource, long runId) =>
        TracesOf(configuration, resource) is { } traces
            ? $"{traces}?filters={Uri.EscapeDataString(FormattableString.Invariant($"{JobActivityFilter.RunIdTag}:equals:{runId}"))}"
            : null;
}
