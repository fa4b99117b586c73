using System.Text.Json.Nodes;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.ScriptedLlm;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// The admin's whole session in a real browser (Debian's Chromium through Playwright) on the all-in-one host, with the
/// browser's own script, circuit and chart library: sign in, import data, train, serve, chat, compare. Each step leaves
/// a screenshot (<see cref="HeadlessChromium.ScreenshotFolder"/>).
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class AdminScenarioTests(DashboardFixture fixture)
{
    private const string Password = "scenario-pw";

    [Fact]
    public async Task AnAdminSignsInImportsDataTrainsATinyModelWatchingItsLossLiveServesItChatsWithItAndComparesTwoEvaluations()
    {
        var dir = fixture.NewFolder("scenario");
        var (model, sft) = await TinySftRun.WriteAsync(dir, examples: 24, seed: 9);
        var demo = await DemoDataAsync(dir, records: 5);
        var benchmarks = Path.Combine(dir, "benchmarks.json");
        await File.WriteAllTextAsync(benchmarks, ScriptedBenchmark.Json);
        await using var llm = await ScriptedChatServer.StartAsync(ScriptedBenchmark.Answer);
        // A password, so the admin signs in; and it changes the served model, so a host of its own.
        var host = await fixture.FreshHostAsync($"--Admin:Password={Password}");
        await using var chromium = await HeadlessChromium.LaunchAsync();
        var page = await chromium.NewPageAsync(host);

        await SignInAsync(page);
        var dataset = await ImportAsync(page, demo, sft);
        var (runId, step) = await TrainAsync(page, host, model, dataset);
        var served = await ServeAsync(page, runId, step);
        await ChatAsync(page, served);
        await CompareEvaluationsAsync(page, host, served, benchmarks, llm.BaseUrl);
    }

    /// <summary>Anonymous visitors get no admin forms; the admin signs in through /login and gets them.</summary>
    private static async Task SignInAsync(IPage page)
    {
        await page.GotoAsync("/training");
        Assert.Equal(0, await page.Locator("#form-start-sft").CountAsync());
        await page.GotoAsync("/login");
        await page.GetByLabel("Password").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.Locator("#sign-out").WaitForAsync();
        await HeadlessChromium.ScreenshotAsync(page, "1-signed-in");
    }

    /// <summary>
    /// The reference's demo data and the SFT records imported from files on /data; each import's answer lists its
    /// dataset at once. Returns the SFT dataset's name.
    /// </summary>
    private static async Task<string> ImportAsync(IPage page, string demo, string sft)
    {
        await page.GotoAsync("/data");
        var demoDataset = $"scenario-demo-{Guid.NewGuid():N}";
        Assert.Contains($"into {demoDataset}: Completed; 5 rows read, 5 exam questions", await ImportFileAsync(page, demo, "demo", demoDataset));
        Assert.Equal(1, await page.Locator($"#datasets a[href='/data/export/{demoDataset}?content=problems']").CountAsync());
        var sftDataset = $"scenario-sft-{Guid.NewGuid():N}";
        Assert.Contains("24 SFT records imported", await ImportFileAsync(page, sft, "sft", sftDataset));
        Assert.Equal(1, await page.Locator($"#datasets a[href='/data/export/{sftDataset}?content=sft']").CountAsync());
        await HeadlessChromium.ScreenshotAsync(page, "2-data-imported");
        return sftDataset;
    }

    private static async Task<string> ImportFileAsync(IPage page, string file, string format, string dataset)
    {
        await page.Locator("#import-file").SetInputFilesAsync(file);
        await page.Locator("#import-format").SelectOptionAsync(format);
        await page.Locator("#import-dataset").FillAsync(dataset);
        await page.GetByRole(AriaRole.Button, new() { Name = "Import" }).ClickAsync();
        // This import's answer, not the one the page showed before.
        var summary = page.Locator("#import-summary", new() { HasTextString = $"into {dataset}:" });
        await summary.WaitForAsync(new() { Timeout = 60_000 });
        return (await summary.TextContentAsync())!;
    }

    /// <summary>
    /// An SFT run on the imported dataset started from the form; its loss chart gains points while it trains, without
    /// a reload, and answers a hover with the value under the pointer. Returns the run and its last checkpoint's step.
    /// </summary>
    private static async Task<(long RunId, int Step)> TrainAsync(IPage page, RunningHost host, string model, string dataset)
    {
        await page.GotoAsync("/training");
        var form = page.Locator("#form-start-sft");
        await form.Locator("input[name=name]").FillAsync("sft in the browser");
        await form.Locator("input[name=model]").FillAsync(model);
        await form.Locator("input[name=data]").FillAsync("");
        await form.Locator("input[name=dataset]").FillAsync(dataset);
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
        // The chart library drew the line with its axes.
        var line = page.Locator("#chart-loss path.rz-line-series, #chart-loss .rz-line-series path").First;
        await line.WaitForAsync();
        Assert.Contains(" L ", await line.GetAttributeAsync("d"));
        Assert.True(await page.Locator("#chart-loss svg .rz-axis").CountAsync() >= 2);
        await HeadlessChromium.ScreenshotAsync(page, "3-training-live");

        // The run ends here, so no half-done job is left in the shared database for the next test's trainer.
        await page.WaitForFunctionAsync("() => document.querySelector('#live-charts').dataset.status === 'Succeeded'", null, new() { Timeout = 180_000, PollingInterval = 250 });
        // 24 records, 2 per optimizer step, 2 epochs.
        Assert.Equal(24, await LossPointsAsync(page));
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
        await HeadlessChromium.ScreenshotAsync(page, "4-training-done");

        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var run = await db.TrainingRuns.AsNoTracking().Include(r => r.Checkpoints).SingleAsync(r => r.Id == id);
        Assert.Equal(RunStatus.Succeeded, run.Status);
        return (id, run.Checkpoints.Max(c => c.Step));
    }

    /// <summary>The run's last checkpoint served from its row; the served-model page names it. Returns its served name.</summary>
    private static async Task<string> ServeAsync(IPage page, long runId, int step)
    {
        // The charts say the run ended and offer the page again, now with its checkpoints.
        await page.Locator("#reload-run").ClickAsync();
        await page.WaitForSelectorAsync($"#checkpoint-{step}");
        var served = $"run-{runId}-step-{step}";
        var row = page.Locator($"#checkpoint-{step}");
        await row.GetByRole(AriaRole.Button, new() { Name = "Serve this checkpoint" }).ClickAsync();
        var answer = page.Locator($"#answer-serve-{step}");
        await answer.WaitForAsync(new() { Timeout = 120_000 });
        Assert.Equal("ok", await answer.GetAttributeAsync("class"));
        await page.GotoAsync("/model");
        Assert.Contains(served, await page.Locator("main").TextContentAsync());
        await HeadlessChromium.ScreenshotAsync(page, "5-checkpoint-served");
        return served;
    }

    /// <summary>The chat playground asks the served checkpoint; its answer streams in with its token counts, no reload.</summary>
    private static async Task ChatAsync(IPage page, string served)
    {
        await page.GotoAsync("/chat");
        await page.Locator("#chat[data-interactive=yes]").WaitForAsync(new() { Timeout = 60_000 });
        await page.EvaluateAsync("() => { window.sameDocument = true; }");
        await page.WaitForFunctionAsync("() => document.querySelector('#chat-model').textContent !== '…'", null, new() { Timeout = 60_000 });
        Assert.Contains(await page.Locator("#chat-model").TextContentAsync(), new[] { served, "default" });
        await page.GetByLabel("Message").FillAsync("What is 3 + 3?");
        await page.GetByLabel("Max tokens").FillAsync("16");
        await page.GetByLabel("Temperature").FillAsync("0");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();
        // While it streams the figures say so; at the end they give the counts and the latency.
        await page.WaitForFunctionAsync("() => document.querySelector('#turn-1 .figures')?.textContent.includes('done in')", null, new() { Timeout = 120_000 });
        Assert.Matches(@"\d+ prompt tokens, \d+ completion tokens; first token after [\d,]+ ms", await page.Locator("#turn-1 .figures").TextContentAsync());
        Assert.Equal(0, await page.Locator("#turn-1 .error").CountAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => window.sameDocument === true"), "the page was reloaded");
        await HeadlessChromium.ScreenshotAsync(page, "6-chat");
    }

    /// <summary>
    /// Two evaluation runs on the same benchmark file from the evaluation form (the served checkpoint, through the
    /// checkpoint's "Evaluate" link's model name, and a scripted model), then both ticked and compared side by side.
    /// </summary>
    private static async Task CompareEvaluationsAsync(IPage page, RunningHost host, string served, string benchmarks, string scriptedUrl)
    {
        var checkpointRun = await StartEvaluationAsync(page, $"/evaluations?model={Uri.EscapeDataString(served)}", benchmarks, url: null, maxTokens: "8");
        // Its page follows it over the circuit until it ends: progress and scores without a reload.
        await page.GotoAsync($"/evaluations/{checkpointRun}");
        await page.EvaluateAsync("() => { window.sameDocument = true; }");
        await page.WaitForFunctionAsync("() => document.querySelector('#live-evaluation')?.dataset.status === 'Succeeded'", null,
            new() { Timeout = 120_000, PollingInterval = 250 });
        Assert.True(await page.EvaluateAsync<bool>("() => window.sameDocument === true"), "the page was reloaded");
        Assert.Equal("5 / 5", await page.Locator("#questions-done").TextContentAsync());
        Assert.Equal(1, await page.Locator("#score-MedQA_USLME_test").CountAsync());
        var scriptedRun = await StartEvaluationAsync(page, "/evaluations", benchmarks, scriptedUrl, maxTokens: null, model: "careful");
        foreach (var id in new[] { checkpointRun, scriptedRun })
        {
            var run = await RunsToEnd.EvaluationAsync(host.Browser, id, TimeSpan.FromMinutes(2));
            Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        }
        await page.GotoAsync($"/evaluations/{scriptedRun}");
        await HeadlessChromium.ScreenshotAsync(page, "7-evaluation");

        await page.GotoAsync("/evaluations");
        await page.GetByLabel($"compare run {checkpointRun}").CheckAsync();
        await page.GetByLabel($"compare run {scriptedRun}").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Compare the chosen runs" }).ClickAsync();
        await page.WaitForURLAsync("**/evaluations/compare?*");
        var header = await page.Locator("#comparison tr").First.TextContentAsync();
        Assert.Contains($"#{checkpointRun}", header);
        Assert.Contains(served, header);
        Assert.Contains($"#{scriptedRun}", header);
        // The scripted model: q0 and q1 right, q2 unanswered.
        Assert.Contains("66.7% (2/3; 20.8%–93.9%)", await page.Locator("#compare-MedQA_USLME_test").TextContentAsync());
        Assert.Equal(1, await page.Locator("#compare-PubMedQA_test").CountAsync());
        Assert.Contains("58.3% (2 benchmarks, 3/5 questions)", await page.Locator("#compare-average").TextContentAsync());
        await HeadlessChromium.ScreenshotAsync(page, "8-evaluations-compared");
    }

    /// <summary>Submits the evaluation form on <paramref name="path"/> with the benchmark file; returns the started run's id.</summary>
    private static async Task<long> StartEvaluationAsync(IPage page, string path, string benchmarks, string? url, string? maxTokens, string? model = null)
    {
        await page.GotoAsync(path);
        var form = page.Locator("#form-start-evaluation");
        await form.Locator("input[name=file]").SetInputFilesAsync(benchmarks);
        if (url is not null) await form.Locator("input[name=url]").FillAsync(url);
        if (model is not null) await form.Locator("input[name=model]").FillAsync(model);
        if (maxTokens is not null) await form.Locator("input[name=maxTokens]").FillAsync(maxTokens);
        await form.Locator("input[name=strictPrompt]").CheckAsync();
        await form.Locator("button[type=submit]").ClickAsync();
        var started = page.Locator("#answer-start-evaluation a");
        await started.WaitForAsync(new() { Timeout = 60_000 });
        var href = (await started.GetAttributeAsync("href"))!;
        return long.Parse(href[(href.LastIndexOf('/') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The first records of the reference's demo data (beside the checkout), as an admin would pick a file of their own.</summary>
    private static async Task<string> DemoDataAsync(string dir, int records)
    {
        var demo = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(Checkout.Root, "..", "shared", "data", "huatuo", "demo_data.json")))!.AsArray();
        var file = Path.Combine(dir, "demo.json");
        await File.WriteAllTextAsync(file, new JsonArray(demo.Take(records).Select(n => n!.DeepClone()).ToArray()).ToJsonString());
        return file;
    }

    /// <summary>The loss points the page says its chart holds (0 before the first).</summary>
    private static async Task<int> LossPointsAsync(IPage page) =>
        await page.EvaluateAsync<int>("""() => { const e = document.querySelector('#points-loss'); const m = e && e.textContent.match(/loss: (\d+) points/); return m ? Number(m[1]) : 0; }""");
}
