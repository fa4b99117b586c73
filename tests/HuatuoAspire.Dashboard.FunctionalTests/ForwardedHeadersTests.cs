using System.Net;
using Microsoft.AspNetCore.Builder;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>Behind a TLS proxy (ACA's ingress): the scheme the proxy forwards makes cookies Secure and redirects https.</summary>
[Collection(DashboardCollection.Name)]
public sealed class ForwardedHeadersTests(DashboardFixture fixture)
{
    [Fact]
    public async Task BehindATlsProxyTheSignInCookieIsSecureAndRedirectsAreHttps()
    {
        await using var app = await fixture.StartDashboardAsync(fixture.DataDirectory, "--Admin:Password=proxy-pw", "--ForwardedHeaders:Enabled=true");
        using var client = Client(app);

        var (cookie, redirect) = await SignInAsync(client, forwardedProto: "https");
        Assert.StartsWith($"https://{new Uri(app.Urls.First()).Authority}/", redirect);
        Assert.Contains("secure", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task WithoutForwardedHeadersEnabledAForgedProtoChangesNothing()
    {
        await using var app = await fixture.StartDashboardAsync(fixture.DataDirectory, "--Admin:Password=proxy-pw", "--ForwardedHeaders:Enabled=false");
        using var client = Client(app);

        var (cookie, redirect) = await SignInAsync(client, forwardedProto: "https");
        Assert.StartsWith("http://", redirect);
        Assert.DoesNotContain("secure", cookie, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Signs in through the form as a browser behind the proxy would: the admin cookie's Set-Cookie line and where it is sent next.</summary>
    private static async Task<(string Cookie, string Redirect)> SignInAsync(HttpClient client, string forwardedProto)
    {
        var page = await SendAsync(client, HttpMethod.Get, "/login", forwardedProto);
        var token = DashboardHtml.AntiforgeryToken(await page.Content.ReadAsStringAsync());
        var antiforgery = string.Join("; ", page.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0]));
        var posted = await SendAsync(client, HttpMethod.Post, "/login", forwardedProto, antiforgery, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "admin-login", ["__RequestVerificationToken"] = token, ["Input.Password"] = "proxy-pw",
        }));
        Assert.True(posted.Headers.TryGetValues("Set-Cookie", out var setCookies), $"no cookie set: {(int)posted.StatusCode}");
        var cookie = Assert.Single(setCookies, c => c.StartsWith("huatuo-admin=", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        return (cookie, posted.Headers.Location!.ToString());
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string forwardedProto,
        string? cookies = null, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Add("X-Forwarded-Proto", forwardedProto);
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        request.Headers.Accept.ParseAdd("text/html");
        if (cookies is not null) request.Headers.Add("Cookie", cookies);
        return await client.SendAsync(request);
    }

    // Cookies by hand: a cookie container would hold back Secure cookies on this plain-HTTP test connection.
    private static HttpClient Client(WebApplication app) =>
        new(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = new Uri(app.Urls.First()) };
}
