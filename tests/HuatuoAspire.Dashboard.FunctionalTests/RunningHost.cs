using Microsoft.AspNetCore.Builder;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>A started all-in-one host and a browser-like client of it (cookies kept, redirects not followed).</summary>
public sealed record RunningHost(WebApplication App, HttpClient Browser) : IAsyncDisposable
{
    public Uri BaseAddress => Browser.BaseAddress!;

    public async ValueTask DisposeAsync()
    {
        Browser.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
