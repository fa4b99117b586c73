using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Import;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using HuatuoAspire.LocalServers;
using Microsoft.AspNetCore.Builder;

namespace HuatuoAspire.Cli.FunctionalTests;

[Collection(InfrastructureCollection.Name)]
public sealed partial class AllInOneHostTests(InfrastructureFixture fixture)
{
    [Fact]
    public async Task EveryServiceAnswersItsHealthEndpoint()
    {
        await using var host = await StartAsync("127.0.0.1");
        foreach (var path in new[] { "/health", "/alive", "/health/workers", "/health/trainer", "/health/dashboard" })
        {
            var (status, body) = await HostHealth.WaitForHealthyAsync(host.Client, path);
            Assert.True(status == HttpStatusCode.OK, $"{path}: {status} {body}");
            Assert.Equal("Healthy", body);
        }
    }

    [Fact]
    public async Task TheDashboardHomePageShowsTheCountsOfImportedQuestions()
    {
        await using var host = await StartAsync("127.0.0.1");
        var importer = host.App.Services.GetRequiredService<DatasetImporter>();
        var report = await importer.ImportAsync(DemoDataPath(), new ImportOptions { DatasetName = $"demo-{Guid.NewGuid():N}" });
        Assert.True(report.Succeeded);

        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var questions = await db.ExamQuestions.CountAsync();
        Assert.True(questions >= 198);

        var home = await host.Client.GetStringAsync("/");
        var card = CardValue().Match(home[home.IndexOf("id=\"exam-questions\"", StringComparison.Ordinal)..]);
        Assert.Equal(questions.ToString("N0"), card.Groups[1].Value);
        Assert.Contains("demo_data.json", home);
    }

    [Fact]
    public async Task TheDashboardShowsAProblemWithItsSourceQuestionAndReplaysItsTrajectory()
    {
        await using var host = await StartAsync("127.0.0.1");
        var importer = host.App.Services.GetRequiredService<DatasetImporter>();
        var dataset = $"demo-{Guid.NewGuid():N}";
        Assert.True((await importer.ImportAsync(DemoDataPath(), new ImportOptions { DatasetName = dataset })).Succeeded);

        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var problem = await db.VerifiableProblems.Include(p => p.ExamQuestion).Include(p => p.Trajectories)
            .Where(p => p.Dataset!.Name == dataset).OrderBy(p => p.Id).FirstAsync();

        var before = await db.VerifiableProblems.CountAsync(p => p.Id < problem.Id);
        var list = await host.Client.GetStringAsync($"/problems?page={before / 50 + 1}");
        Assert.Contains($"href=\"/problems/{problem.Id}\"", list);

        var page = WebUtility.HtmlDecode(await host.Client.GetStringAsync($"/problems/{problem.Id}"));
        Assert.Contains(problem.GroundTruthAnswer, page);
        Assert.Contains(problem.ExamQuestion!.Options[problem.ExamQuestion.AnswerIdx], page);
        var trajectory = Assert.Single(problem.Trajectories);
        Assert.Contains($"href=\"/trajectories/{trajectory.Id}\"", page);

        var replay = WebUtility.HtmlDecode(await host.Client.GetStringAsync($"/trajectories/{trajectory.Id}"));
        Assert.Contains(trajectory.Response!, replay);

        Assert.Contains("No such problem.", await host.Client.GetStringAsync("/problems/999999999"));
    }

    [Fact]
    public async Task ThePipelineRunsPageShowsEachRunsProgressAndError()
    {
        await using var host = await StartAsync("127.0.0.1");
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var run = new HuatuoAspire.Data.Entities.PipelineRun
        {
            Kind = HuatuoAspire.Data.Entities.PipelineRunKind.Search,
            Parameters = "{}",
            Status = HuatuoAspire.Data.Entities.RunStatus.Failed,
            ItemsTotal = 8, ItemsDone = 6, ItemsSucceeded = 5, ItemsFailed = 1,
            Error = "endpoint 'inference' answered 503 three times",
            StartedAt = DateTime.UtcNow,
        };
        db.PipelineRuns.Add(run);
        await db.SaveChangesAsync();

        var page = WebUtility.HtmlDecode(await host.Client.GetStringAsync("/runs"));
        var row = page[page.IndexOf($"id=\"run-{run.Id}\"", StringComparison.Ordinal)..];
        Assert.Contains("6 / 8", row);
        Assert.Contains("value=\"75\"", row);
        Assert.Contains("endpoint 'inference' answered 503 three times", row);
    }

    [Fact]
    public async Task OnLoopbackWithoutPasswordTheJobsDashboardIsOpenAndThePageSaysSo()
    {
        await using var host = await StartAsync("127.0.0.1");
        var home = await host.Client.GetStringAsync("/");
        Assert.Contains("id=\"loopback-banner\"", home);
        Assert.Equal(HttpStatusCode.OK, (await host.Client.GetAsync("/hangfire")).StatusCode);
    }

    [Fact]
    public async Task OnAllInterfacesWithoutPasswordAdminActionsAreRefused()
    {
        await using var host = await StartAsync("0.0.0.0", "--Inference:ApiKey=all-interfaces-key");
        var home = await host.Client.GetStringAsync("/");
        Assert.DoesNotContain("loopback-banner", home);
        var response = await host.Client.GetAsync("/hangfire");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task WithAPasswordAnonymousIsRefusedAndTheKeyOrSignInIsAccepted()
    {
        await using var host = await StartAsync("127.0.0.1", "--Admin:Password=s3cret-pass");
        Assert.DoesNotContain("loopback-banner", await host.Client.GetStringAsync("/"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Client.GetAsync("/hangfire")).StatusCode);

        using var wrongKey = new HttpRequestMessage(HttpMethod.Get, "/hangfire");
        wrongKey.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Client.SendAsync(wrongKey)).StatusCode);

        using var rightKey = new HttpRequestMessage(HttpMethod.Get, "/hangfire");
        rightKey.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-pass");
        Assert.Equal(HttpStatusCode.OK, (await host.Client.SendAsync(rightKey)).StatusCode);

        // A browser signs in through the form and then reaches the jobs dashboard with its cookie.
        var cookies = new CookieContainer();
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = host.Client.BaseAddress };
        var refused = await SignInAsync(browser, "not-it");
        Assert.Contains("The password is not correct.", await refused.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/hangfire")).StatusCode);
        await SignInAsync(browser, "s3cret-pass");
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/hangfire")).StatusCode);
    }

    private static async Task<HttpResponseMessage> SignInAsync(HttpClient browser, string password)
    {
        var page = await browser.GetStringAsync("/login");
        var token = AntiforgeryField().Match(page).Groups[1].Value;
        return await browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "admin-login",
            ["__RequestVerificationToken"] = token,
            ["Input.Password"] = password,
        }));
    }

    private async Task<RunningHost> StartAsync(string bindAddress, params string[] args)
    {
        var port = FreePort.Pick();
        var app = await AllInOneHost.CreateAsync(
            new AllInOneOptions(fixture.DataDirectory, $"http://{bindAddress}:{port}", args),
            fixture.Infrastructure, CancellationToken.None);
        await app.StartAsync();
        return new RunningHost(app, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") });
    }

    private static string DemoDataPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "data", "huatuo", "demo_data.json");
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException("shared/data/huatuo/demo_data.json was not found beside the checkout.");
    }

    [GeneratedRegex("<div class=\"n\">([^<]+)</div>")]
    private static partial Regex CardValue();

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    private sealed record RunningHost(WebApplication App, HttpClient Client) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }
}
