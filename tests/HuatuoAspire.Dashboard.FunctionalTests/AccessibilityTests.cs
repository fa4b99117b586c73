using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.ScriptedLlm;
using Microsoft.Playwright;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// Data in from a real browser, and the main pages checked with axe-core (from tests/npm) for serious or critical
/// accessibility violations: labels, contrast, keyboard reach, names of controls.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class AccessibilityTests(DashboardFixture fixture)
{
    private static readonly string[] MainPages = ["/", "/data", "/training", "/runs", "/evaluations", "/chat", "/model", "/problems"];

    [Fact]
    public async Task InABrowserAnAdminImportsDemoDataAndTheMainPagesHaveNoSeriousAccessibilityViolations()
    {
        var axe = Path.Combine(Checkout.NpmFolder, "node_modules", "axe-core", "axe.min.js");
        Assert.True(File.Exists(axe), $"{axe} is missing: run npm install in tests/npm");
        // Five records of the reference's demo data, as an admin would pick a file of their own.
        var demo = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(Checkout.Root, "..", "shared", "data", "huatuo", "demo_data.json")))!.AsArray();
        var file = Path.Combine(fixture.NewFolder("demo"), "demo.json");
        await File.WriteAllTextAsync(file, new JsonArray(demo.Take(5).Select(n => n!.DeepClone()).ToArray()).ToJsonString());
        await using var llm = await ScriptedChatServer.StartAsync(ScriptedBenchmark.Answer);
        var host = await fixture.HostAsync();
        var evaluation = await EvaluateThroughTheApiAsync(host, llm.BaseUrl);

        await using var chromium = await HeadlessChromium.LaunchAsync();
        // The dashboard's Content-Security-Policy allows no inline script; axe is injected by the test, not the page.
        var page = await chromium.NewPageAsync(host, bypassCsp: true);

        await page.GotoAsync("/data");
        var dataset = $"browser-demo-{Guid.NewGuid():N}";
        await page.Locator("#import-file").SetInputFilesAsync(file);
        await page.Locator("#import-format").SelectOptionAsync("demo");
        await page.Locator("#import-dataset").FillAsync(dataset);
        await page.GetByRole(AriaRole.Button, new() { Name = "Import" }).ClickAsync();
        var summary = page.Locator("#import-summary");
        await summary.WaitForAsync(new() { Timeout = 60_000 });
        Assert.Contains($"into {dataset}: Completed; 5 rows read, 5 exam questions", await summary.TextContentAsync());
        await HeadlessChromium.ScreenshotAsync(page, "data-import");
        await page.GotoAsync("/data");
        Assert.Equal(1, await page.Locator($"a[href='/data/export/{dataset}?content=problems']").CountAsync());

        await page.GotoAsync($"/evaluations/{evaluation}");
        await HeadlessChromium.ScreenshotAsync(page, "evaluation");

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
        var benchmark = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(ScriptedBenchmark.Json));
        benchmark.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        form.Add(benchmark, "file", "benchmarks.json");
        var started = await host.Browser.PostAsync("/api/evaluation-runs", form);
        Assert.True(started.StatusCode == HttpStatusCode.Accepted, await started.Content.ReadAsStringAsync());
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();
        var run = await RunsToEnd.EvaluationAsync(host.Browser, id, TimeSpan.FromMinutes(1));
        Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        return id;
    }
}
