using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static HuatuoAspire.Dashboard.FunctionalTests.DashboardHtml;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// The admin password resists guessing, a sign-in lasts only as long as its password, and without the admin rights the
/// forms and the API refuse.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class AdminSignInTests(DashboardFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task WrongPasswordsAreAnswered429WithRetryAfterAndTheRealAdminGetsBackIn()
    {
        await using var app = await fixture.StartDashboardAsync(fixture.DataDirectory, "--Admin:Password=s3cret-pw", "--Admin:FailedSignInRefillSeconds=2");
        using var browser = Browser(app, new CookieContainer());

        // The loop: 60 wrong passwords as fast as one client can send them.
        var statuses = new List<HttpStatusCode>();
        var clock = Stopwatch.StartNew();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 60; i++)
        {
            var response = await AdminSignIn.PostAsync(browser, $"guess-{i}");
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
        await Eventually.ReachesAsync(async () => (await AdminSignIn.PostAsync(browser, "s3cret-pw")).StatusCode, status => status != HttpStatusCode.TooManyRequests,
            TimeSpan.FromSeconds(1.5) * right.Headers.RetryAfter!.Delta!.Value.TotalSeconds, "the right password to be let in again", TimeSpan.FromMilliseconds(100));
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/hangfire")).StatusCode);

        // Correct keys never count: the dashboard's own calls to the services are not throttled.
        for (var i = 0; i < 20; i++) Assert.Equal(HttpStatusCode.OK, (await HangfireWithKeyAsync(app, "s3cret-pw")).StatusCode);
    }

    [Fact]
    public async Task ASignInCookieEndsWithItsPasswordAndWithSignOut()
    {
        var data = fixture.NewFolder("cookie");
        var cookies = new CookieContainer();
        await using (var first = await fixture.StartDashboardAsync(data, "--Admin:Password=first-pw"))
        {
            using var browser = Browser(first, cookies);
            await AdminSignIn.PostAsync(browser, "first-pw");
            Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/hangfire")).StatusCode);
        }

        // Restarted with a new password (same data folder, so the same key ring): the old cookie opens nothing.
        await using var second = await fixture.StartDashboardAsync(data, "--Admin:Password=second-pw");
        using (var browser = Browser(second, cookies))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/hangfire")).StatusCode);
            await AdminSignIn.PostAsync(browser, "second-pw");
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

    [Fact]
    public async Task WithAPasswordTheAdminFormsAndTheEvaluationApiRefuseAnonymousCallers()
    {
        var host = await fixture.HostAsync("--Admin:Password=eval-s3cret");
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var before = await db.PipelineRuns.CountAsync();

        // The API: 401 without the key or with a wrong one; with the key the request gets as far as its validation.
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Browser.PostAsJsonAsync("/api/evaluation-runs", new { datasetId = 1 })).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Browser.PostAsync("/api/evaluation-runs/1/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Browser.PostAsync("/api/evaluation-runs/1/resume", null)).StatusCode);
        using (var wrong = new HttpRequestMessage(HttpMethod.Post, "/api/evaluation-runs") { Content = JsonContent.Create(new { datasetId = 1 }) })
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "guess");
            Assert.Equal(HttpStatusCode.Unauthorized, (await host.Browser.SendAsync(wrong)).StatusCode);
        }
        using (var keyed = new HttpRequestMessage(HttpMethod.Post, "/api/evaluation-runs") { Content = JsonContent.Create(new { datasetId = 999999999 }) })
        {
            keyed.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "eval-s3cret");
            var response = await host.Browser.SendAsync(keyed);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("dataset 999999999 does not exist", await response.Content.ReadAsStringAsync());
        }

        // The pages: no admin forms for an anonymous visitor, and a forged post (with a valid antiforgery token) is refused.
        var evaluations = await host.Browser.GetStringAsync("/evaluations");
        Assert.DoesNotContain("form-start-evaluation", evaluations);
        Assert.DoesNotContain("form-start-search", await host.Browser.GetStringAsync("/runs"));
        var anonymousTraining = await host.Browser.GetStringAsync("/training");
        Assert.DoesNotContain("form-start-sft", anonymousTraining);
        Assert.DoesNotContain("form-start-ppo", anonymousTraining);
        var token = AntiforgeryToken(await host.Browser.GetStringAsync("/login"));
        var forged = await host.Browser.PostAsync("/runs", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-search", ["__RequestVerificationToken"] = token, ["verifier"] = "rule",
        }));
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Contains("Refused: admin actions need an administrator", await forged.Content.ReadAsStringAsync());
        Assert.Equal(before, await db.PipelineRuns.CountAsync());

        // A failed training run's error and the files it names are server paths: an anonymous visitor sees neither.
        var failed = new TrainingRun
        {
            Kind = TrainingRunKind.Sft, Name = "leaky", Status = RunStatus.Failed, Error = "could not read /srv/private/sft.jsonl: line 3",
            Config = """{"kind":"sft","name":"leaky","model":"/srv/private/model","data":"/srv/private/sft.jsonl","epochs":1}""",
        };
        db.TrainingRuns.Add(failed);
        await db.SaveChangesAsync();
        var anonymousRun = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/training/{failed.Id}"));
        Assert.DoesNotContain("/srv/private", anonymousRun);
        Assert.Contains("sign in as an admin to see why", anonymousRun);
        Assert.Contains("<th>epochs</th><td>1</td>", Row(anonymousRun, "configuration", "</table>"));

        // Signed in, the same visitor sees the forms; the dashboard calls the APIs with the key.
        var login = await AdminSignIn.PostAsync(host.Browser, "eval-s3cret");
        Assert.True(login.IsSuccessStatusCode || login.StatusCode == HttpStatusCode.Redirect, login.StatusCode.ToString());
        var signedInRun = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/training/{failed.Id}"));
        Assert.Contains("could not read /srv/private/sft.jsonl: line 3", signedInRun);
        Assert.Contains("<th>model</th><td>/srv/private/model</td>", Row(signedInRun, "configuration", "</table>"));
        var training = await host.Browser.GetStringAsync("/training");
        Assert.Contains("id=\"form-start-sft\"", training);
        Assert.Contains("id=\"form-start-ppo\"", training);
        var sft = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-sft", ["__RequestVerificationToken"] = AntiforgeryToken(training),
            ["model"] = "/no/such/model", ["data"] = "/no/such/data.jsonl",
        }));
        var sftPage = WebUtility.HtmlDecode(await sft.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, sft.StatusCode);
        Assert.Contains("model '/no/such/model' is not a model folder", sftPage);
        Assert.Equal(before, await db.PipelineRuns.CountAsync());
    }
}
