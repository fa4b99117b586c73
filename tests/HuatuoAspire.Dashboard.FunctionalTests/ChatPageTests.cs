using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Bunit;
using HuatuoAspire.Dashboard.Components.Chat;
using HuatuoAspire.Dashboard.Components.Training;
using HuatuoAspire.Dashboard.Services;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.ScriptedLlm;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Radzen;
using Rect = Radzen.Blazor.Rendering.Rect;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>
/// The dashboard's live parts on the all-in-one host: the interactive components are rendered by bUnit on the host's
/// own services (its PostgreSQL, its inference service), so what they show is what the real system did.
/// </summary>
public sealed partial class EvaluationDashboardTests
{
    [Fact]
    public async Task TheTrainingChartsGainPointsWhileATinySftRunTrainsWithoutAReload()
    {
        var dir = Path.Combine(fixture.DataDirectory, $"sft-live-{Guid.NewGuid():N}"); // removed with the fixture
        var (model, data) = await TinySftRun.WriteAsync(dir, examples: 24, seed: 7);
        await using var host = await StartAsync($"--Trainer:WorkDirectory={Path.Combine(dir, "work")}");
        var started = await host.Browser.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["kind"] = "sft", ["name"] = "live sft", ["model"] = model, ["data"] = data, ["epochs"] = 2, ["learning_rate"] = 1e-3,
            ["batch_size"] = 2, ["micro_batch_size"] = 1, ["max_seq_len"] = 128, ["save_every"] = 100,
        });
        Assert.True(started.IsSuccessStatusCode, await started.Content.ReadAsStringAsync());
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();

        using var browser = new BunitContext();
        browser.JSInterop.Mode = JSRuntimeMode.Loose;
        browser.Services.AddRadzenComponents();
        browser.Services.AddSingleton(host.App.Services.GetRequiredService<TrainingMetricsReader>());
        // The chart measures its box in the browser's script; here it gets a box of its own.
        browser.JSInterop.Setup<Rect>("Radzen.createChart", _ => true).SetResult(new Rect { Width = 800, Height = 300 });
        var charts = browser.Render<LiveTrainingCharts>(p => p.Add(c => c.RunId, id).Add(c => c.PollInterval, TimeSpan.FromMilliseconds(250)));
        var first = LossPoints(charts);

        // The same component instance, polling: more points than it first showed while the run is still training.
        charts.WaitForAssertion(() =>
        {
            Assert.True(LossPoints(charts) > first, $"still {LossPoints(charts)} loss points");
            Assert.Equal("Running", charts.Find("#live-charts").GetAttribute("data-status"));
        }, TimeSpan.FromMinutes(3));
        // Then every point the trainer wrote, and the component says the run no longer trains.
        charts.WaitForAssertion(() => Assert.Equal("Succeeded", charts.Find("#live-charts").GetAttribute("data-status")), TimeSpan.FromMinutes(3));
        await using (var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync())
        {
            // 24 examples, 2 per optimizer step, 2 epochs.
            Assert.Equal(24, await db.TrainingMetrics.CountAsync(m => m.TrainingRunId == id && m.Name == "loss"));
        }
        Assert.Equal(24, LossPoints(charts));
        Assert.Contains("The run is not training", charts.Find("#live-state").TextContent);
        Assert.Empty(charts.FindAll("#chart-reward"));

        // The page itself: the charts prerendered with their points, the script that makes them live, the
        // configuration as SFT fields only.
        var page = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/training/{id}"));
        Assert.Contains("id=\"points-loss\">loss: 24 points", page);
        Assert.Contains("_framework/blazor.web.js", page);
        var configuration = Row(page, "configuration", "</table>");
        Assert.Contains("<th>batch_size</th><td>2</td>", configuration);
        Assert.DoesNotContain("kl_coef", configuration);
        Assert.DoesNotContain("lora_alpha", configuration);
        Assert.DoesNotContain("IsPpo", configuration);
        // The chart library's script and styles are served by the host itself.
        foreach (var asset in new[] { "_framework/blazor.web.js", "_content/Radzen.Blazor/Radzen.Blazor.js", "_content/Radzen.Blazor/css/default-base.css" })
        {
            using var response = await host.Browser.GetAsync(asset);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{asset}: {response.StatusCode}");
        }
    }

    [Fact]
    public async Task APipelineRunsProgressAndFailedItemsUpdateWithoutAReloadUntilItEnds()
    {
        await using var host = await StartAsync();
        var dbs = host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>();
        long id;
        await using (var db = await dbs.CreateDbContextAsync())
        {
            var run = new PipelineRun
            {
                Kind = PipelineRunKind.Construction, Parameters = "{}", Status = RunStatus.Running, ItemsTotal = 3, StartedAt = DateTime.UtcNow,
            };
            db.PipelineRuns.Add(run);
            await db.SaveChangesAsync();
            id = run.Id;
        }

        using var browser = new BunitContext();
        browser.Services.AddSingleton(dbs);
        var live = browser.Render<HuatuoAspire.Dashboard.Components.Runs.LivePipelineRun>(p => p
            .Add(c => c.RunId, id).Add(c => c.PollInterval, TimeSpan.FromMilliseconds(200))
            .Add(c => c.TraceLink, "http://localhost:15080/traces/resource/workers"));
        // The first read is asynchronous: the run appears once it is back.
        live.WaitForAssertion(() => Assert.Equal("0 / 3", live.Find("#items-done").TextContent), TimeSpan.FromSeconds(30));
        Assert.Equal("http://localhost:15080/traces/resource/workers", live.Find("#run-traces").GetAttribute("href"));
        live.WaitForAssertion(() => Assert.Equal("yes", live.Find("#live-run").GetAttribute("data-live")));

        // The workers advance the run: the same component instance shows it, heading included.
        await using (var db = await dbs.CreateDbContextAsync())
        {
            await db.PipelineRuns.Where(r => r.Id == id).ExecuteUpdateAsync(u => u
                .SetProperty(r => r.ItemsDone, 2).SetProperty(r => r.ItemsSucceeded, 1).SetProperty(r => r.ItemsFailed, 1));
        }
        live.WaitForAssertion(() => Assert.Equal(("2 / 3", "1"), (live.Find("#items-done").TextContent, live.Find("#failed").TextContent)), TimeSpan.FromSeconds(30));
        await using (var db = await dbs.CreateDbContextAsync())
        {
            await db.PipelineRuns.Where(r => r.Id == id).ExecuteUpdateAsync(u => u
                .SetProperty(r => r.ItemsDone, 3).SetProperty(r => r.ItemsSucceeded, 2).SetProperty(r => r.Status, RunStatus.Succeeded)
                .SetProperty(r => r.FinishedAt, DateTime.UtcNow));
        }
        live.WaitForAssertion(() => Assert.Equal("Succeeded", live.Find("#live-run").GetAttribute("data-status")), TimeSpan.FromSeconds(30));
        Assert.Contains("(Succeeded)", live.Find("#run-status").TextContent);
        Assert.Equal("3 / 3", live.Find("#items-done").TextContent);
        Assert.Contains("not working", live.Find("#live-run-state").TextContent);
    }

    [Fact]
    public async Task TheChatPlaygroundStreamsAnAnswerFromTheServedTinyModelWithItsTokenCounts()
    {
        await using var host = await StartAsync();
        var (status, body) = await HostHealth.WaitForHealthyAsync(host.Browser, "/health/inference", TimeSpan.FromMinutes(2));
        Assert.True(status == HttpStatusCode.OK, $"/health/inference: {status} {body}");
        Assert.Contains("id=\"chat-prompt\"", await host.Browser.GetStringAsync("/chat"));
        Assert.Contains("<td>default</td>", await host.Browser.GetStringAsync("/model"));

        using var browser = new BunitContext();
        browser.JSInterop.Mode = JSRuntimeMode.Loose;
        browser.Services.AddSingleton(host.App.Services.GetRequiredService<ServedModelClient>());
        browser.SetRendererInfo(new Microsoft.AspNetCore.Components.RendererInfo("Server", isInteractive: true));
        var chat = browser.Render<ChatPlayground>();
        chat.WaitForAssertion(() => Assert.Equal("default", chat.Find("#chat-model").TextContent), TimeSpan.FromMinutes(1));
        Assert.Equal("yes", chat.Find("#chat").GetAttribute("data-interactive"));
        chat.Find("#chat-prompt").Change("Which drug clears the dormant liver stage of vivax malaria?");
        chat.Find("#chat-max-tokens").Change("12");
        chat.Find("#chat-temperature").Change("0");
        var rendersBefore = chat.RenderCount;
        chat.Find("#chat-form").Submit();

        chat.WaitForAssertion(() => Assert.Contains("done in", chat.Find("#turn-1 .figures").TextContent), TimeSpan.FromMinutes(2));
        var figures = chat.Find("#turn-1 .figures").TextContent;
        Assert.Matches(@"\d+ prompt tokens, 12 completion tokens; first token after [\d,]+ ms", figures);
        Assert.Empty(chat.FindAll("#turn-1 .error"));
        Assert.Contains("Which drug clears", chat.Find("#turn-0 .content").TextContent);
        var answer = chat.Find("#turn-1 .content").TextContent + string.Concat(chat.FindAll("#turn-1 .thinking pre").Select(e => e.TextContent));
        Assert.NotEmpty(answer);
        // Streamed: the answer was drawn piece by piece (a render per delta), not once at the end.
        Assert.True(chat.RenderCount - rendersBefore > 3, $"{chat.RenderCount - rendersBefore} renders");
    }

    [Fact]
    public async Task TheComparisonPageShowsTwoRunsSideBySideAndTheQuestionsTheyAnsweredDifferently()
    {
        // Model "careful" answers as the evaluation tests script it; model "always-a" says A to everything.
        await using var llm = await ScriptedChatServer.StartAsync(r => r.Model == "always-a" ? ScriptedReply.Text("The answer is A.") : Answer(r));
        await using var host = await StartAsync();
        var blob = $"benchmarks/{Guid.NewGuid():N}/compare.json";
        var container = host.App.Services.GetRequiredService<HuatuoAspire.Storage.ArtifactStore>().Container;
        await container.CreateIfNotExistsAsync();
        await container.GetBlobClient(blob).UploadAsync(BinaryData.FromString(Benchmarks));
        var ids = new List<long>();
        foreach (var model in new[] { "careful", "always-a" })
        {
            var started = await host.Browser.PostAsJsonAsync("/api/evaluation-runs", new { benchmarkBlob = blob, url = llm.BaseUrl, model });
            Assert.True(started.IsSuccessStatusCode, await started.Content.ReadAsStringAsync());
            ids.Add((await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>());
        }
        foreach (var id in ids)
        {
            JsonObject run;
            var deadline = DateTime.UtcNow.AddSeconds(90);
            do
            {
                await Task.Delay(300);
                run = (await host.Browser.GetFromJsonAsync<JsonObject>($"/api/evaluation-runs/{id}"))!;
            } while (run["status"]!.GetValue<string>() is "Queued" or "Running" && DateTime.UtcNow < deadline);
            Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        }

        Assert.Contains("name=\"runs\" value=\"" + ids[0].ToString(CultureInfo.InvariantCulture) + "\"", await host.Browser.GetStringAsync("/evaluations"));
        var page = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/evaluations/compare?runs={ids[0]}&runs={ids[1]}&runs=999999999"));
        // careful: q0 B ✓, q1 A ✓ (option text), q2 none ✗; always-a: A ✗, A ✓, A ✗. PubMedQA: careful A ✓, A ✗; always-a the same.
        Assert.Equal(["MedQA_USLME_test", "66.7% (2/3; 20.8%–93.9%)", "33.3% (1/3; 6.1%–79.2%)"], Cells(Row(page, "compare-MedQA_USLME_test")));
        Assert.Equal(["PubMedQA_test", "50.0% (1/2; 9.5%–90.5%)", "50.0% (1/2; 9.5%–90.5%)"], Cells(Row(page, "compare-PubMedQA_test")));
        Assert.Contains("No such evaluation run: #999999999.", page);
        Assert.Contains("2 questions, 1 of them right in one run and wrong in another", page);
        Assert.Equal(["MedQA_USLME_test", "0", "Which drug is an anticoagulant (q0)?", "B", "B ✓", "A ✗"], Cells(Row(page, "disagree-MedQA_USLME_test-0")));
        Assert.Equal(["MedQA_USLME_test", "2", "Which organ makes insulin (q2)?", "B", "none ✗", "A ✗"], Cells(Row(page, "disagree-MedQA_USLME_test-2")));
        Assert.Equal(2, DisagreementRow().Count(page));
    }

    /// <summary>How many loss points the charts say they hold (0 before the first).</summary>
    private static int LossPoints(IRenderedComponent<LiveTrainingCharts> charts) =>
        charts.FindAll("#points-loss") is [var summary] ? int.Parse(LossCount().Match(summary.TextContent).Groups[1].Value, CultureInfo.InvariantCulture) : 0;

    [GeneratedRegex(@"loss: (\d+) points")]
    private static partial Regex LossCount();

    [GeneratedRegex("class=\"disagreement\"")]
    private static partial Regex DisagreementRow();
}
