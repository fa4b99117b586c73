namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The one loopback rule: a URL a server listens on (<c>http://+:5080</c>, <c>http://0.0.0.0:5080</c>, <c>http://[::]:5080</c>,
/// <c>http://localhost:5080</c>) as a client on this machine reaches it (127.0.0.1 or [::1]). Used where a process calls
/// itself: the all-in-one host announcing its services, the dashboard calling services in its own process.
/// </summary>
public static class ListeningAddress
{
    public static Uri Reachable(string listening)
    {
        var uri = new UriBuilder(listening.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal));
        if (uri.Host is "0.0.0.0" or "localhost") uri.Host = "127.0.0.1";
        if (uri.Host is "[::]" or "::") uri.Host = "[::1]";
        uri.Path = "/";
        return uri.Uri;
    }
}
