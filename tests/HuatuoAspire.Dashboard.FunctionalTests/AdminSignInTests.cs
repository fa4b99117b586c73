using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.LocalServers;
using Microsoft.AspNetCore.Builder;
using Xunit.Abstractions;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>The admin password resists guessing, and a sign-in lasts only as long as its password.</summary>
[Collection(InfrastructureCollection.Name)]
public sealed partial class AdminSignInTests(InfrastructureFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task WrongPasswordsAreAnswered429WithRetryAfterAndTheRealAdminGetsBackIn()
    {
        await using var app = await StartAsync(fixture.DataDirectory, "--Admin:Password=s3cret-pw", "--Admin:FailedSignInRefillSeconds=2");
        using var browser = Browser(app, new CookieContainer());

        // The loop: 60 wrong passwords as fast as one client can send them.
        var statuses = new List<HttpStatusCode>();
        var clock = Stopwatch.StartNew();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 60; i++)
        {
            var response = await SignInAsync(browser, $"guess-{i}");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) refused ??= response;
        }
        clock.Stop();
        var answered = statuses.Count(s => s == HttpStatusCode.OK);
        output.WriteLine($"wrong-password loop: {statuses.Count} attempts in {clock.Elapsed.TotalSeconds:F2} s, {answered} checked " +
                         $"(the burst), {statuses.Count(s => s == HttpStatusCode.TooManyRequests)} answered 429; then one guess per refill period");
        Assert.Equal(Enumerable.Repeat(HttpStatusCode.OK, 5), statuses.Take(5));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[5]);
        // Past the burst, at most one guess per refill period (2 s here) is checked.
        Assert.True(answered <= 5 + 1 + (int)(clock.Elapsed.TotalSeconds / 2), string.Join(' ', statuses));
        Assert.Equal("2", refused!.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("Too many wrong passwords", await refused.Content.ReadAsStringAsync());

        // Bearer keys share the client's budget: while it is spent even the right key is refused, so guessing learns nothing.
        Assert.Equal(HttpStatusCode.TooManyRequests, (await HangfireWithKeyAsync(app, "wrong")).StatusCode);
        var right = await HangfireWithKeyAsync(app, "s3cret-pw");
        Assert.Equal(HttpStatusCode.TooManyRequests, right.StatusCode);
        Assert.NotNull(right.Headers.RetryAfter);

        // The bucket refills by itself: the real admin is in again within Retry-After (a refused try costs nothing).
        await Eventually.ReachesAsync(async () => (await SignInAsync(browser, "s3cret-pw")).StatusCode, status => status != HttpStatusCode.TooManyRequests,
            TimeSpan.FromSeconds(1.5) * right.Headers.RetryAfter!.Delta!.Value.TotalSeconds, "the right password to be let in again", TimeSpan.FromMilliseconds(100));
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/hangfire")).StatusCode);

        // Correct keys never count: the dashboard's own calls to the services are not throttled.
        for (var i = 0; i < 20; i++) Assert.Equal(HttpStatusCode.OK, (await HangfireWithKeyAsync(app, "s3cret-pw")).StatusCode);
    }

    [Fact]
    public async Task ASignInCookieEndsWithItsPasswordAndWithSignOut()
    {
        var data = Directory.CreateTempSubdirectory("huatuo-cookie-").FullName;
        var cookies = new CookieContainer();
        await using (var first = await StartAsync(data, "--Admin:Password=first-pw"))
        {
            using var browser = Browser(first, cookies);
            await SignInAsync(browser, "first-pw");
            Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/hangfire")).StatusCode);
        }

        // Restarted with a new password (same data folder, so the same key ring): the old cookie opens nothing.
        await using var second = await StartAsync(data, "--Admin:Password=second-pw");
        using (var browser = Browser(second, cookies))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/hangfire")).StatusCode);
            await SignInAsync(browser, "second-pw");
            Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/hangfire")).StatusCode);
            var home = await browser.GetAsync("/");
            Assert.Contains("id=\"sign-out\"", await home.Content.ReadAsStringAsync());
            // Hardened for browsers: no framing of the admin forms, no sniffing, scripts and posts kept to this origin.
            Assert.Equal("DENY", home.Headers.GetValues("X-Frame-Options").Single());
            Assert.Equal("nosniff", home.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Contains("frame-ancestors 'none'", home.Headers.GetValues("Content-Security-Policy").Single());

            var signOut = await browser.PostAsync("/logout", new FormUrlEncodedContent([]));
            Assert.True(signOut.IsSuccessStatusCode, signOut.StatusCode.ToString());
            Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/hangfire")).StatusCode);
            Assert.DoesNotContain("id=\"sign-out\"", await browser.GetStringAsync("/"));
        }
        try { Directory.Delete(data, recursive: true); } catch (IOException) { }
    }

    private static HttpClient Browser(WebApplication app, CookieContainer cookies) =>
        new(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = new Uri(app.Urls.First()) };

    private static async Task<HttpResponseMessage> HangfireWithKeyAsync(WebApplication app, string key)
    {
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/hangfire");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return await client.SendAsync(request);
    }

    private static async Task<HttpResponseMessage> SignInAsync(HttpClient browser, string password)
    {
        var token = AntiforgeryField().Match(await browser.GetStringAsync("/login")).Groups[1].Value;
        return await browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "admin-login", ["__RequestVerificationToken"] = token, ["Input.Password"] = password,
        }));
    }

    private async Task<WebApplication> StartAsync(string dataDirectory, params string[] args)
    {
        var app = await AllInOneHost.CreateAsync(new AllInOneOptions(dataDirectory, $"http://127.0.0.1:{FreePort.Pick()}", args, ["dashboard"]),
            fixture.Infrastructure, CancellationToken.None);
        await app.StartAsync();
        return app;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
