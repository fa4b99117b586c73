using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>
/// The dashboard in a real browser (Debian's Chromium through Playwright) on the all-in-one host: what an admin sees,
/// with the browser's own script, circuit and chart library. Screenshots are kept under <c>artifacts/screenshots</c>.
/// </summary>
public sealed partial class EvaluationDashboardTests
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task InABrowserAnAdminStartsATinySftRunFromTheFormAndWatchesItsLossChartGainPointsWithoutAReload()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: run scripts/prerequisites.sh --tests");
        var dir = Path.Combine(fixture.DataDirectory, $"sft-browser-{Guid.NewGuid():N}"); // removed with the fixture
        var (model, data) = await TinySftRun.WriteAsync(dir, examples: 32, seed: 9);
        await using var host = await StartAsync($"--Trainer:WorkDirectory={Path.Combine(dir, "work")}");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true });
        var page = await browser.NewPageAsync(new() { BaseURL = host.Browser.BaseAddress!.ToString(), ViewportSize = new() { Width = 1200, Height = 900 } });

        // Loopback and no password: the admin forms are open, no sign-in.
        await page.GotoAsync("/training");
        var form = page.Locator("#form-start-sft");
        await form.Locator("input[name=name]").FillAsync("sft in the browser");
        await form.Locator("input[name=model]").FillAsync(model);
        await form.Locator("input[name=data]").FillAsync(data);
        foreach (var (field, value) in new[] { ("epochs", "2"), ("learning_rate", "1e-3"), ("batch_size", "2"), ("micro_batch_size", "1"), ("max_seq_len", "128"), ("save_every", "100") })
            await form.Locator($"input[name={field}]").FillAsync(value);
        await form.Locator("button[type=submit]").ClickAsync();
        await page.Locator("#answer-start-sft a").ClickAsync();
        await page.WaitForURLAsync("**/training/*");
        var id = long.Parse(page.Url[(page.Url.LastIndexOf('/') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

        // A mark on this document: a reload would drop it.
        await page.EvaluateAsync("() => { window.sameDocument = true; }");
        var shown = await LossPointsAsync(page);
        await page.WaitForFunctionAsync("""
            n => { const e = document.querySelector('#points-loss'); const m = e && e.textContent.match(/loss: (\d+) points/);
                   return m && Number(m[1]) > n && document.querySelector('#live-charts').dataset.status === 'Running'; }
            """, shown, new() { Timeout = 180_000, PollingInterval = 200 });
        Assert.True(await page.EvaluateAsync<bool>("() => window.sameDocument === true"), "the page was reloaded");
        // The chart library drew the line with its axes, and answers a hover with the value under the pointer.
        var line = page.Locator("#chart-loss path.rz-line-series, #chart-loss .rz-line-series path").First;
        await line.WaitForAsync();
        Assert.Contains(" L ", await line.GetAttributeAsync("d"));
        Assert.True(await page.Locator("#chart-loss svg .rz-axis").CountAsync() >= 2);
        Directory.CreateDirectory(ScreenshotFolder);
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder, "training-live.png"), FullPage = true });

        // Let the run end here, so no half-done job is left in the shared database for the next test's trainer.
        await page.WaitForFunctionAsync("() => document.querySelector('#live-charts').dataset.status === 'Succeeded'", null, new() { Timeout = 180_000, PollingInterval = 250 });
        Assert.Equal(32, await LossPointsAsync(page));
        Assert.True(await page.EvaluateAsync<bool>("() => window.sameDocument === true"), "the page was reloaded");
        // The pointer on the line, halfway along: the value under it is shown.
        await line.ScrollIntoViewIfNeededAsync();
        var onLine = await line.EvaluateAsync<double[]>("""
            path => { const p = path.getPointAtLength(path.getTotalLength() / 2); const m = path.getScreenCTM();
                      return [p.x * m.a + p.y * m.c + m.e, p.x * m.b + p.y * m.d + m.f]; }
            """);
        await page.Mouse.MoveAsync((float)onLine[0] - 3, (float)onLine[1]);
        await page.Mouse.MoveAsync((float)onLine[0], (float)onLine[1]);
        var tooltip = page.Locator(".rz-chart-tooltip").First;
        await tooltip.WaitForAsync(new() { Timeout = 15_000 });
        Assert.Contains("loss", await tooltip.TextContentAsync());
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder, "training-done.png"), FullPage = true });
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        Assert.Equal(RunStatus.Succeeded, (await db.TrainingRuns.SingleAsync(r => r.Id == id)).Status);
    }

    [Fact]
    public async Task InABrowserTheChatStreamsTheServedModelsAnswerWithItsTokenCountsAndLatency()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: run scripts/prerequisites.sh --tests");
        await using var host = await StartAsync();
        var (status, body) = await HostHealth.WaitForHealthyAsync(host.Browser, "/health/inference", TimeSpan.FromMinutes(2));
        Assert.True(status == System.Net.HttpStatusCode.OK, $"/health/inference: {status} {body}");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true });
        var page = await browser.NewPageAsync(new() { BaseURL = host.Browser.BaseAddress!.ToString() });
        await page.GotoAsync("/chat");
        await page.Locator("#chat[data-interactive=yes]").WaitForAsync(new() { Timeout = 60_000 });
        await page.EvaluateAsync("() => { window.sameDocument = true; }");
        Assert.Equal("default", await page.Locator("#chat-model").TextContentAsync());
        await page.GetByLabel("Message").FillAsync("Which drug clears the dormant liver stage of vivax malaria?");
        await page.GetByLabel("Max tokens").FillAsync("16");
        await page.GetByLabel("Temperature").FillAsync("0");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();

        var figures = page.Locator("#turn-1 .figures");
        await page.WaitForFunctionAsync("() => document.querySelector('#turn-1 .figures')?.textContent.includes('done in')", null, new() { Timeout = 120_000 });
        Assert.Matches(@"\d+ prompt tokens, \d+ completion tokens; first token after [\d,]+ ms", await figures.TextContentAsync());
        Assert.Equal(0, await page.Locator("#turn-1 .error").CountAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => window.sameDocument === true"), "the page was reloaded");
        Directory.CreateDirectory(ScreenshotFolder);
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder, "chat.png"), FullPage = true });
    }

    /// <summary>The loss points the page says its chart holds (0 before the first).</summary>
    private static async Task<int> LossPointsAsync(IPage page) =>
        await page.EvaluateAsync<int>("""() => { const e = document.querySelector('#points-loss'); const m = e && e.textContent.match(/loss: (\d+) points/); return m ? Number(m[1]) : 0; }""");

    /// <summary><c>artifacts/screenshots</c> of the checkout (found from the test's output folder).</summary>
    private static string ScreenshotFolder
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "HuatuoAspire.sln"))) dir = dir.Parent;
            return Path.Combine(dir?.FullName ?? AppContext.BaseDirectory, "artifacts", "screenshots");
        }
    }
}
