using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Dashboard.FunctionalTests;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.Storage;
using HuatuoAspire.LocalServers;
using HuatuoAspire.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace HuatuoAspire.Trainer.FunctionalTests;

/// <summary>The training worker: a run is queued over the API, trained by the Hangfire job, recorded and checkpointed.</summary>
[Collection(InfrastructureCollection.Name)]
public sealed class TrainingRunsApiTests(InfrastructureFixture fixture)
{
    [Fact]
    public async Task AnSftRunQueuedThroughTheApiTrainsRecordsMetricsAndUploadsCheckpoints()
    {
        var dir = Directory.CreateTempSubdirectory("huatuo-training-api-").FullName;
        var (model, data) = await TinySftRun.WriteAsync(dir, examples: 8, seed: 3);

        var port = FreePort.Pick();
        await using var app = await AllInOneHost.CreateAsync(
            new AllInOneOptions(fixture.DataDirectory, $"http://127.0.0.1:{port}", [$"--Trainer:WorkDirectory={Path.Combine(dir, "work")}", $"--Trainer:DataFolders:0={dir}"]),
            fixture.Infrastructure, CancellationToken.None);
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        var start = await client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["model"] = model, ["data"] = data, ["epochs"] = 1, ["batch_size"] = 2, ["micro_batch_size"] = 1,
            ["max_seq_len"] = 128, ["save_every"] = 2, ["learning_rate"] = 1e-3,
        });
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var id = (await start.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();

        var run = await Eventually.ReachesAsync(async () => (await client.GetFromJsonAsync<JsonObject>($"/api/training-runs/{id}"))!,
            r => r["status"]!.GetValue<string>() is not ("Queued" or "Running"), TimeSpan.FromMinutes(3), $"training run {id} to end",
            TimeSpan.FromMilliseconds(500));

        Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        Assert.Equal(4, run["step"]!.GetValue<int>()); // 8 examples, 2 per optimizer step, 1 epoch
        Assert.True(run["metrics"]!["loss"]!.GetValue<double>() > 0);
        var checkpoints = run["checkpoints"]!.AsArray().Select(c => c!["blobName"]!.GetValue<string>()).ToArray();
        Assert.Contains($"training/run-{id}/checkpoint-2", checkpoints);
        Assert.Contains($"training/run-{id}/final", checkpoints);

        // The uploaded final model is a complete Hugging Face folder in blob storage.
        var store = app.Services.GetRequiredService<ArtifactStore>();
        var names = new List<string>();
        await foreach (var blob in store.ListAsync($"training/run-{id}/final/")) names.Add(blob.Name);
        Assert.Contains($"training/run-{id}/final/model.safetensors", names);
        Assert.Contains($"training/run-{id}/final/config.json", names);

        // The dashboard lists the run and charts its loss from the recorded metrics, with its checkpoints.
        Assert.Contains($"href=\"/training/{id}\"", await client.GetStringAsync("/training"));
        var page = await client.GetStringAsync($"/training/{id}");
        Assert.Contains("id=\"chart-loss\"", page);
        Assert.Contains("id=\"points-loss\">loss: ", page);
        Assert.Contains($"training/run-{id}/checkpoint-2", page);
        Assert.Contains("No such training run.", await client.GetStringAsync("/training/999999999"));

        await app.StopAsync();
    }

    [Fact]
    public async Task AnInvalidRequestIsRefusedWithEveryProblemNamed()
    {
        var port = FreePort.Pick();
        await using var app = await AllInOneHost.CreateAsync(
            new AllInOneOptions(fixture.DataDirectory, $"http://127.0.0.1:{port}", []), fixture.Infrastructure, CancellationToken.None);
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var response = await client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["kind"] = "sft", ["model"] = "/nowhere", ["data"] = Path.Combine(fixture.DataDirectory, "nowhere.jsonl"), ["batch_size"] = 3, ["micro_batch_size"] = 2,
        });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("not a model folder", body);
        Assert.Contains("does not exist", body);
        Assert.Contains("multiple of micro_batch_size", body);
        response = await client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object> { ["kind"] = "rlhf" });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("kind 'rlhf' is not a training stage (sft or ppo)", await response.Content.ReadAsStringAsync());
        await app.StopAsync();
    }
}
