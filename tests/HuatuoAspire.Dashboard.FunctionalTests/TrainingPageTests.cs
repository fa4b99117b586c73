using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.LocalServers;
using HuatuoAspire.Model;
using HuatuoAspire.ScriptedLlm;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>The training page (/training): SFT and PPO runs started from its forms, trained to the end.</summary>
public sealed partial class EvaluationDashboardTests
{
    [Fact]
    public async Task AnAdminStartsAPpoRunFromTheTrainingPageAndItTrainsToTheEndWithTheApisDefaultsForTheFieldsLeftEmpty()
    {
        var dir = Path.Combine(fixture.DataDirectory, $"ppo-form-{Guid.NewGuid():N}"); // removed with the fixture
        var policy = Path.Combine(dir, "policy");
        using (ModelPresets.Create(policy, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed: 9)) { }
        var data = Path.Combine(dir, "ppo.jsonl");
        await File.WriteAllLinesAsync(data, Enumerable.Range(1, 4).Select(i =>
            new JsonObject { ["Question"] = $"Dose {i} mg/kg for 10 kg?", ["Ground-True Answer"] = $"{10 * i} mg" }.ToJsonString()));
        await using var host = await StartAsync($"--Trainer:WorkDirectory={Path.Combine(dir, "work")}");
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var before = await db.TrainingRuns.CountAsync();

        var training = await host.Browser.GetStringAsync("/training");
        Assert.Contains("id=\"form-start-ppo\"", training);
        var token = AntiforgeryField().Match(training).Groups[1].Value;

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
        var id = long.Parse(StartedTrainingLink().Match(answer).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

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

        run = await WaitForEndAsync(db, id);
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
        var dir = Path.Combine(fixture.DataDirectory, $"sft-form-{Guid.NewGuid():N}"); // removed with the fixture
        var (model, data) = await TinySftRun.WriteAsync(dir, examples: 4, seed: 4);
        await using var host = await StartAsync($"--Trainer:WorkDirectory={Path.Combine(dir, "work")}");
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();

        var training = await host.Browser.GetStringAsync("/training");
        var posted = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-sft", ["__RequestVerificationToken"] = AntiforgeryField().Match(training).Groups[1].Value,
            ["name"] = "sft from the form", ["model"] = model, ["data"] = data, ["epochs"] = "1", ["learning_rate"] = "1e-3",
            ["batch_size"] = "2", ["micro_batch_size"] = "1", ["max_seq_len"] = "128", ["save_every"] = "100",
        }));
        var answer = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, answer);
        var id = long.Parse(StartedTrainingLink().Match(answer).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        var run = await WaitForEndAsync(db, id);
        Assert.Equal(TrainingRunKind.Sft, run.Kind);
        Assert.True(run.Status == RunStatus.Succeeded, $"{run.Status}: {run.Error}");
        // 4 examples, 2 per optimizer step, 1 epoch.
        Assert.Equal(2, await db.TrainingMetrics.Where(m => m.TrainingRunId == id && m.Name == "loss").CountAsync());
        Assert.Contains("sft from the form <small>(Sft, Succeeded)</small>", WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/training/{id}")));
    }

    /// <summary>The training run once it has left Queued and Running, polled in the database (at most 3 minutes).</summary>
    private static async Task<TrainingRun> WaitForEndAsync(HuatuoDbContext db, long id)
    {
        TrainingRun run;
        var deadline = DateTime.UtcNow.AddMinutes(3);
        do
        {
            await Task.Delay(300);
            run = await db.TrainingRuns.AsNoTracking().SingleAsync(r => r.Id == id);
        } while (run.Status is RunStatus.Queued or RunStatus.Running && DateTime.UtcNow < deadline);
        return run;
    }
}
