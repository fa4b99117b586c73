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
}
