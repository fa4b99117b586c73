using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Bunit;
using HuatuoAspire.Dashboard.Components.Training;
using HuatuoAspire.Dashboard.Services;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Radzen;
using static HuatuoAspire.Dashboard.FunctionalTests.DashboardHtml;
using Rect = Radzen.Blazor.Rendering.Rect;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// The training pages (/training, /training/{id}): SFT and PPO runs started from the forms and trained to the end, and
/// the run page's charts, rendered by bUnit on the host's own PostgreSQL, gaining points while a run trains.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed partial class TrainingPageTests(DashboardFixture fixture)
{
    [Fact]
    public async Task AnAdminStartsAPpoRunFromTheTrainingPageAndItTrainsToTheEndWithTheApisDefaultsForTheFieldsLeftEmpty()
    {
        var dir = fixture.NewFolder("ppo-form");
        var policy = Path.Combine(dir, "policy");
        using (ModelPresets.Create(policy, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed: 9)) { }
        var data = Path.Combine(dir, "ppo.jsonl");
        await File.WriteAllLinesAsync(data, Enumerable.Range(1, 4).Select(i =>
            new JsonObject { ["Question"] = $"Dose {i} mg/kg for 10 kg?", ["Ground-True Answer"] = $"{10 * i} mg" }.ToJsonString()));
        var host = await fixture.HostAsync();
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var before = await db.TrainingRuns.CountAsync();

        var training = await host.Browser.GetStringAsync("/training");
        Assert.Contains("id=\"form-start-ppo\"", training);
        var token = AntiforgeryToken(training);

        // A request the API refuses: the page shows its reasons and no run is queued.
        var refused = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-ppo", ["__RequestVerificationToken"] = token,
            ["policy"] = Path.Combine(dir, "no-such-policy"), ["data"] = data, ["dataset"] = "also-a-dataset",
        }));
        var refusedPage = WebUtility.HtmlDecode(await refused.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains($"policy '{Path.Combine(dir, "no-such-policy")}' is not a model folder", Row(refusedPage, "answer-start-ppo", "</p>"));
        Assert.Contains("give exactly one of data (a file) and dataset", refusedPage);
        Assert.Equal(before, await db.TrainingRuns.CountAsync());

        // Two prompts per rollout, two samples each, one PPO epoch in mini-batches of 2; the value alone learns first.
        var posted = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-ppo", ["__RequestVerificationToken"] = token,
            ["name"] = "ppo from the form", ["policy"] = policy, ["value"] = "", ["data"] = data, ["dataset"] = "", ["verifier"] = "",
            ["learning_rate"] = "1e-4", ["ppo_epochs"] = "1", ["rollout_batch_size"] = "2", ["samples_per_prompt"] = "2",
            ["mini_batch_size"] = "2", ["response_length"] = "6", ["value_warmup_iterations"] = "1", ["temperature"] = "", ["kl_coef"] = "",
        }));
        var answer = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, answer);
        var id = StartedId(answer, "training");

        var run = await db.TrainingRuns.AsNoTracking().SingleAsync(r => r.Id == id);
        Assert.Equal((TrainingRunKind.Ppo, "ppo from the form"), (run.Kind, run.Name));
        var config = JsonNode.Parse(run.Config)!;
        // What the form sent.
        Assert.Equal(policy, config["policy"]!.GetValue<string>());
        Assert.Equal(data, config["data"]!.GetValue<string>());
        Assert.Equal(1e-4, config["learning_rate"]!.GetValue<double>());
        Assert.Equal((1, 2, 2, 2, 6, 1), (config["ppo_epochs"]!.GetValue<int>(), config["rollout_batch_size"]!.GetValue<int>(),
            config["samples_per_prompt"]!.GetValue<int>(), config["mini_batch_size"]!.GetValue<int>(), config["response_length"]!.GetValue<int>(),
            config["value_warmup_iterations"]!.GetValue<int>()));
        // The API's defaults for what it left empty.
        Assert.Null(config["value"]);
        Assert.Null(config["dataset"]);
        Assert.Null(config["value_learning_rate"]);
        Assert.Equal("rule", config["verifier"]!.GetValue<string>());
        Assert.Equal(0.5, config["temperature"]!.GetValue<double>());
        Assert.Equal(0.03, config["kl_coef"]!.GetValue<double>());
        Assert.Equal(50, config["save_every"]!.GetValue<int>());

        run = await RunsToEnd.TrainingAsync(db, id);
        Assert.True(run.Status == RunStatus.Succeeded, $"{run.Status}: {run.Error}");
        Assert.True(await db.TrainingMetrics.AnyAsync(m => m.TrainingRunId == id && m.Name == "reward"));
        var page = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/training/{id}"));
        Assert.Contains("ppo from the form <small>(Ppo, Succeeded)</small>", page);
        Assert.Contains("id=\"chart-reward\"", page);
        Assert.Contains($"href=\"/training/{id}\"", await host.Browser.GetStringAsync("/training"));
    }

    [Fact]
    public async Task AnAdminStartsAnSftRunFromTheTrainingPageAndItTrainsToTheEnd()
    {
        var (model, data) = await TinySftRun.WriteAsync(fixture.NewFolder("sft-form"), examples: 4, seed: 4);
        var host = await fixture.HostAsync();
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();

        var training = await host.Browser.GetStringAsync("/training");
        var posted = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-sft", ["__RequestVerificationToken"] = AntiforgeryToken(training),
            ["name"] = "sft from the form", ["model"] = model, ["data"] = data, ["epochs"] = "1", ["learning_rate"] = "1e-3",
            ["batch_size"] = "2", ["micro_batch_size"] = "1", ["max_seq_len"] = "128", ["save_every"] = "100",
        }));
        var answer = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, answer);
        var id = StartedId(answer, "training");

        var run = await RunsToEnd.TrainingAsync(db, id);
        Assert.Equal(TrainingRunKind.Sft, run.Kind);
        Assert.True(run.Status == RunStatus.Succeeded, $"{run.Status}: {run.Error}");
        // 4 examples, 2 per optimizer step, 1 epoch.
        Assert.Equal(2, await db.TrainingMetrics.Where(m => m.TrainingRunId == id && m.Name == "loss").CountAsync());
        Assert.Contains("sft from the form <small>(Sft, Succeeded)</small>", WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/training/{id}")));
    }

    [Fact]
    public async Task TheTrainingChartsGainPointsWhileATinySftRunTrainsWithoutAReload()
    {
        var (model, data) = await TinySftRun.WriteAsync(fixture.NewFolder("sft-live"), examples: 24, seed: 7);
        var host = await fixture.HostAsync();
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
        // It ended while shown: the page's static parts (heading, checkpoints) are a reload away.
        Assert.Equal($"/training/{id}", charts.Find("#reload-run").GetAttribute("href"));
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

    /// <summary>How many loss points the charts say they hold (0 before the first).</summary>
    private static int LossPoints(IRenderedComponent<LiveTrainingCharts> charts) =>
        charts.FindAll("#points-loss") is [var summary] ? int.Parse(LossCount().Match(summary.TextContent).Groups[1].Value, CultureInfo.InvariantCulture) : 0;

    [GeneratedRegex(@"loss: (\d+) points")]
    private static partial Regex LossCount();
}
