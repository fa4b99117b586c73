using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.ScriptedLlm;
using Microsoft.Playwright;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>
/// Data in from a real browser, and the main pages checked with axe-core (from tests/npm) for serious or critical
/// accessibility violations: labels, contrast, keyboard reach, names of controls.
/// </summary>
public sealed partial class EvaluationDashboardTests
{
    private static readonly string[] MainPages = ["/", "/data", "/training", "/runs", "/evaluations", "/chat", "/model", "/problems"];

    [Fact]
    public async Task InABrowserAnAdminImportsDemoDataAndTheMainPagesHaveNoSeriousAccessibilityViolations()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: run scripts/prerequisites.sh --tests");
        var axe = Path.Combine(RepositoryRoot, "tests", "npm", "node_modules", "axe-core", "axe.min.js");
        Assert.True(File.Exists(axe), $"{axe} is missing: run npm install in tests/npm");
        // Five records of the reference's demo data, as an admin would pick a file of their own.
        var demo = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot, "..", "shared", "data", "huatuo", "demo_data.json")))!.AsArray();
        var file = Path.Combine(fixture.DataDirectory, $"demo-{Guid.NewGuid():N}.json"); // removed with the fixture
        await File.WriteAllTextAsync(file, new JsonArray(demo.Take(5).Select(n => n!.DeepClone()).ToArray()).ToJsonString());
        await using var llm = await ScriptedChatServer.StartAsync(Answer);
        await using var host = await StartAsync();
        var evaluation = await EvaluateThroughTheApiAsync(host, llm.BaseUrl);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true });
        // The dashboard's Content-Security-Policy allows no inline script; axe is injected by the test, not the page.
        var page = await browser.NewPageAsync(new() { BaseURL = host.Browser.BaseAddress!.ToString(), ViewportSize = new() { Width = 1200, Height = 900 }, BypassCSP = true });
        Directory.CreateDirectory(ScreenshotFolder);

        await page.GotoAsync("/data");
        var dataset = $"browser-demo-{Guid.NewGuid():N}";
        await page.Locator("#import-file").SetInputFilesAsync(file);
        await page.Locator("#import-format").SelectOptionAsync("demo");
        await page.Locator("#import-dataset").FillAsync(dataset);
        await page.GetByRole(AriaRole.Button, new() { Name = "Import" }).ClickAsync();
        var summary = page.Locator("#import-summary");
        await summary.WaitForAsync(new() { Timeout = 60_000 });
        Assert.Contains($"into {dataset}: Completed; 5 rows read, 5 exam questions", await summary.TextContentAsync());
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder, "data-import.png"), FullPage = true });
        await page.GotoAsync("/data");
        Assert.Equal(1, await page.Locator($"a[href='/data/export/{dataset}?content=problems']").CountAsync());

        await page.GotoAsync($"/evaluations/{evaluation}");
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder, "evaluation.png"), FullPage = true });

        var problems = new List<string>();
        foreach (var path in MainPages.Append($"/evaluations/{evaluation}").Append($"/runs/{evaluation}"))
        {
            await page.GotoAsync(path);
            await page.AddScriptTagAsync(new() { Path = axe });
            var found = await page.EvaluateAsync<string[]>("""
                async () => (await axe.run(document, { resultTypes: ['violations'] })).violations
                    .filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('; ')}`)
                """);
            problems.AddRange(found.Select(f => $"{path}: {f}"));
        }
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    /// <summary>The two-benchmark file evaluated against the scripted endpoint through the workers' API; its run id once done.</summary>
    private static async Task<long> EvaluateThroughTheApiAsync(RunningHost host, string url)
    {
        using var form = new MultipartFormDataContent { { new StringContent(url), "url" }, { new StringContent("scripted-model"), "model" } };
        var benchmark = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(Benchmarks));
        benchmark.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        form.Add(benchmark, "file", "benchmarks.json");
        var started = await host.Browser.PostAsync("/api/evaluation-runs", form);
        Assert.True(started.StatusCode == HttpStatusCode.Accepted, await started.Content.ReadAsStringAsync());
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();
        JsonObject run;
        var deadline = DateTime.UtcNow.AddMinutes(1);
        do
        {
            await Task.Delay(300);
            run = (await host.Browser.GetFromJsonAsync<JsonObject>($"/api/evaluation-runs/{id}"))!;
        } while (run["status"]!.GetValue<string>() is "Queued" or "Running" && DateTime.UtcNow < deadline);
        Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        return id;
    }

    /// <summary>The checkout's root (where HuatuoAspire.sln is), found from the test's output folder.</summary>
    private static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "HuatuoAspire.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("HuatuoAspire.sln not found above the test's folder.");
        }
    }
}
