using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.LocalServers;
using HuatuoAspire.Model;
using HuatuoAspire.Trainer.Jobs;
using HuatuoAspire.Training.Ppo;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HuatuoAspire.Trainer.FunctionalTests;

/// <summary>
/// PPO through the training worker: a run over the API from a policy in blob storage and prompts from a dataset in
/// the database, its per-step metrics in PostgreSQL, its checkpoints in blob storage, cancellation, and a run whose
/// job is delivered again to a worker without its local files resuming from the uploaded checkpoint.
/// </summary>
[Collection(InfrastructureCollection.Name)]
public sealed class PpoTrainingRunTests(InfrastructureFixture fixture)
{
    private static readonly string[] StepFigures =
        ["reward", "correct_fraction", "kl", "entropy", "policy_loss", "value_loss", "clip_fraction", "response_length", "lr", "tokens_per_s"];

    [Fact]
    public async Task APpoRunFromABlobPolicyOnADatabaseDatasetRecordsEveryStepAndUploadsPolicyAndValueCheckpoints()
    {
        await using var host = await Host.StartAsync(fixture);
        var policyBlob = await host.UploadTinyModelAsync("policy", seed: 5);
        var dataset = await host.AddDatasetAsync(5);

        var start = await host.Client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["kind"] = "ppo", ["policy"] = $"blob:{policyBlob}", ["value"] = host.TinyModel(seed: 6), ["dataset"] = dataset,
            ["verifier"] = "rule", ["rollout_batch_size"] = 2, ["mini_batch_size"] = 1, ["ppo_epochs"] = 1, ["response_length"] = 6,
            ["save_every"] = 1, ["learning_rate"] = 1e-4,
        });
        Assert.True(start.StatusCode == HttpStatusCode.Accepted, await start.Content.ReadAsStringAsync());
        var created = (await start.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("ppo", created["kind"]!.GetValue<string>());
        var id = created["id"]!.GetValue<long>();

        var run = await host.WaitForEndAsync(id);
        Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        // 5 prompts in rollout batches of 2, 2, 1; one PPO epoch in mini-batches of 1: 5 optimizer steps.
        Assert.Equal(5, run["step"]!.GetValue<int>());
        foreach (var figure in StepFigures) Assert.True(run["metrics"]![figure] is not null, figure);

        // One row per (step, figure), every step present once.
        await using (var db = await host.Db())
        {
            var rows = await db.TrainingMetrics.Where(m => m.TrainingRunId == id).ToListAsync();
            Assert.Equal([1, 2, 3, 4, 5], rows.Select(r => r.Step).Distinct().Order());
            foreach (var figure in StepFigures) Assert.Equal(5, rows.Count(r => r.Name == figure));
            var config = JsonNode.Parse((await db.TrainingRuns.SingleAsync(r => r.Id == id)).Config)!;
            // The paper's defaults where the request named none.
            Assert.Equal(0.5, config["temperature"]!.GetValue<double>());
            Assert.Equal(0.03, config["kl_coef"]!.GetValue<double>());
            Assert.Equal(1.0, config["gamma"]!.GetValue<double>());
            Assert.Equal(0.95, config["lambda"]!.GetValue<double>());
            Assert.Equal(0.2, config["clip_range"]!.GetValue<double>());
        }

        var checkpoints = run["checkpoints"]!.AsArray().Select(c => c!["blobName"]!.GetValue<string>()).ToArray();
        Assert.Contains($"training/run-{id}/checkpoint-2", checkpoints);
        Assert.Contains($"training/run-{id}/final", checkpoints);
        Assert.Contains($"training/run-{id}/final-value", checkpoints);
        var names = await host.BlobNamesAsync($"training/run-{id}/checkpoint-2/");
        foreach (var file in new[] { "policy/model.safetensors", "policy/config.json", "value/model.safetensors", "policy_optimizer.pt", "value_optimizer.pt", "trainer_state.json" })
            Assert.Contains($"training/run-{id}/checkpoint-2/{file}", names);
        Assert.Contains($"training/run-{id}/inputs/ppo-data.jsonl", await host.BlobNamesAsync($"training/run-{id}/inputs/"));

        // The final policy in blob storage is a loadable Hugging Face folder.
        var final = Path.Combine(host.Dir, "final");
        await host.Store.DownloadFolderAsync($"training/run-{id}/final", final);
        using (CausalLanguageModel.FromPretrained(final, ModelPlacement.Cpu)) { }
    }

    [Fact]
    public async Task APpoJobDeliveredAgainToAWorkerWithoutItsFilesResumesFromTheUploadedCheckpointAndContinuesTheCurve()
    {
        await using var host = await Host.StartAsync(fixture);
        var data = Path.Combine(host.Dir, "ppo.jsonl");
        await File.WriteAllLinesAsync(data, Enumerable.Range(1, 12).Select(i =>
            new JsonObject { ["Question"] = $"Dose {i} mg/kg for 10 kg?", ["Ground-True Answer"] = $"{10 * i} mg" }.ToJsonString()));
        var config = new TrainingRunConfig
        {
            Kind = "ppo", Policy = host.TinyModel(seed: 7), Data = data,
            Ppo = new PpoOptions
            {
                RolloutBatchSize = 2, MiniBatchSize = 1, PpoEpochs = 2, MaxNewTokens = 6, SaveEvery = 1, LearningRate = 1e-3, ValueLearningRate = 1e-3, Seed = 11,
                EvalFraction = 0, // every prompt trains: 6 full batches
            },
        };
        var jobs = host.App.Services.GetRequiredService<TrainingJobs>();

        // The uninterrupted curve.
        var reference = await host.AddRunAsync(config);
        await jobs.RunAsync(reference, CancellationToken.None);
        var expected = await host.FiguresAsync(reference);
        Assert.Equal(24, expected.Count); // 6 rollout batches × 2 PPO epochs × 2 mini-batches

        // The same run stopped by its worker's shutdown once a checkpoint is uploaded, then delivered again after its
        // local files are gone: it must fetch the checkpoint from blob storage.
        var id = await host.AddRunAsync(config);
        using var shutdown = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!shutdown.IsCancellationRequested)
            {
                await using var db = await host.Db();
                if (await db.Checkpoints.AnyAsync(c => c.TrainingRunId == id)) { await shutdown.CancelAsync(); return; }
                await Task.Delay(20);
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => jobs.RunAsync(id, shutdown.Token));
        await watcher;
        await using (var db = await host.Db()) Assert.Equal(RunStatus.Running, (await db.TrainingRuns.SingleAsync(r => r.Id == id)).Status);
        Directory.Delete(jobs.WorkDirectory(id), recursive: true);
        int checkpointStep;
        long[] keptRows;
        await using (var db = await host.Db())
        {
            checkpointStep = await db.Checkpoints.Where(c => c.TrainingRunId == id).MaxAsync(c => c.Step);
            keptRows = await db.TrainingMetrics.Where(m => m.TrainingRunId == id && m.Step <= checkpointStep).Select(m => m.Id).ToArrayAsync();
        }
        Assert.NotEmpty(keptRows);

        await jobs.RunAsync(id, CancellationToken.None);
        // It resumed after the checkpoint: the rows recorded before it are the same rows, not recomputed ones.
        await using (var db = await host.Db())
            Assert.Equal(keptRows.Order(), await db.TrainingMetrics.Where(m => m.TrainingRunId == id && m.Step <= checkpointStep).Select(m => m.Id).OrderBy(i => i).ToArrayAsync());
        var resumed = await host.FiguresAsync(id);
        await using (var db = await host.Db()) Assert.Equal(RunStatus.Succeeded, (await db.TrainingRuns.SingleAsync(r => r.Id == id)).Status);
        Assert.Equal(expected.Keys, resumed.Keys);
        foreach (var (step, figures) in expected)
        {
            // Same seeds, same weights and optimizer state: the same rollouts and rewards, losses within float noise.
            Assert.Equal(figures["reward"], resumed[step]["reward"], 6);
            Assert.Equal(figures["response_length"], resumed[step]["response_length"], 6);
            foreach (var name in new[] { "kl", "policy_loss", "value_loss", "entropy", "approx_kl" })
                Assert.True(Math.Abs(figures[name] - resumed[step][name]) <= 1e-4 + 1e-3 * Math.Abs(figures[name]),
                    $"step {step} {name}: uninterrupted {figures[name]}, resumed {resumed[step][name]}");
        }
    }

    [Fact]
    public async Task ACancelledPpoRunStopsAndIsMarkedCancelled()
    {
        await using var host = await Host.StartAsync(fixture);
        var data = Path.Combine(host.Dir, "ppo.jsonl");
        await File.WriteAllLinesAsync(data, Enumerable.Range(1, 200).Select(i =>
            new JsonObject { ["Question"] = $"Dose {i} mg/kg for 10 kg?", ["Ground-True Answer"] = $"{10 * i} mg" }.ToJsonString()));
        var start = await host.Client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["kind"] = "ppo", ["policy"] = host.TinyModel(seed: 8), ["data"] = data, ["rollout_batch_size"] = 2, ["mini_batch_size"] = 2,
            ["ppo_epochs"] = 1, ["response_length"] = 4, ["save_every"] = 1000,
        });
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var id = (await start.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();
        JsonObject run;
        do
        {
            await Task.Delay(200);
            run = (await host.Client.GetFromJsonAsync<JsonObject>($"/api/training-runs/{id}"))!;
        } while (run["step"] is null);
        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.PostAsync($"/api/training-runs/{id}/cancel", null)).StatusCode);
        run = await host.WaitForEndAsync(id);
        Assert.Equal("Cancelled", run["status"]!.GetValue<string>());
        Assert.True(run["step"]!.GetValue<int>() < 100);
    }

    [Fact]
    public async Task APpoRequestNamingMissingBlobsDatasetsOrEndpointsIsRefusedWithEachProblemNamed()
    {
        await using var host = await Host.StartAsync(fixture);
        var response = await host.Client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["kind"] = "ppo", ["policy"] = "blob:training/no-such-run/final", ["value"] = "blob:training/no-such-value",
            ["dataset"] = $"missing-{Guid.NewGuid():N}", ["verifier"] = "llm:nobody",
        });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("policy 'blob:training/no-such-run/final' is not a model folder in blob storage", body);
        Assert.Contains("value 'blob:training/no-such-value'", body);
        Assert.Contains("does not exist", body);
        Assert.Contains("No LLM endpoint named 'nobody'", body);

        response = await host.Client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["kind"] = "ppo", ["policy"] = host.TinyModel(seed: 1), ["data"] = "/nowhere.jsonl", ["dataset"] = "x", ["verifier"] = "magic",
            ["temperature"] = 0, ["gamma"] = 2,
        });
        body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("exactly one of data", body);
        Assert.Contains("verifier 'magic'", body);
        Assert.Contains("temperature must be", body);
        Assert.Contains("gamma and lambda", body);
    }

    [Fact]
    public async Task AnSftRunOnADatabaseDatasetTrainsOnItsFinishedTrajectoriesAndSnapshotsThem()
    {
        await using var host = await Host.StartAsync(fixture);
        string dataset;
        await using (var db = await host.Db())
        {
            var row = new Dataset { Name = $"sft-{Guid.NewGuid():N}" };
            db.Datasets.Add(row);
            await db.SaveChangesAsync();
            dataset = row.Name;
            // Four finished trajectories (searched or imported) and one failed one, which is not an SFT example.
            for (var i = 1; i <= 5; i++)
                db.ReasoningTrajectories.Add(new ReasoningTrajectory
                {
                    DatasetId = row.Id, Question = $"Dose {i} mg/kg for 10 kg?", ComplexCot = $"{i} × 10 = {10 * i}.", Response = $"{10 * i} mg",
                    Status = i switch { 5 => TrajectoryStatus.Failed, 4 => TrajectoryStatus.Imported, _ => TrajectoryStatus.Succeeded },
                });
            await db.SaveChangesAsync();
        }

        var start = await host.Client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["kind"] = "sft", ["model"] = host.TinyModel(seed: 9), ["dataset"] = dataset, ["epochs"] = 1, ["batch_size"] = 1,
            ["micro_batch_size"] = 1, ["max_seq_len"] = 96, ["save_every"] = 1000, ["learning_rate"] = 1e-3,
        });
        Assert.True(start.StatusCode == HttpStatusCode.Accepted, await start.Content.ReadAsStringAsync());
        var id = (await start.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();
        var run = await host.WaitForEndAsync(id);
        Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        Assert.Equal(4, run["step"]!.GetValue<int>()); // the four finished trajectories, one per optimizer step
        Assert.Contains($"training/run-{id}/inputs/sft-data.jsonl", await host.BlobNamesAsync($"training/run-{id}/inputs/"));

        // A dataset that does not exist, or both a file and a dataset, are refused with the problem named.
        var missing = await host.Client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["kind"] = "sft", ["model"] = host.TinyModel(seed: 9), ["dataset"] = "no-such-dataset",
        });
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("dataset 'no-such-dataset' does not exist", await missing.Content.ReadAsStringAsync());
        var both = await host.Client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["kind"] = "sft", ["model"] = host.TinyModel(seed: 9), ["dataset"] = dataset, ["data"] = "/nowhere.jsonl",
        });
        Assert.Contains("give exactly one of data", await both.Content.ReadAsStringAsync());

        // The command line trains on the same dataset, exported from the database first.
        var output = Path.Combine(host.Dir, "cli-sft");
        string[] common = ["train", "sft", "--model", host.TinyModel(seed: 9), "--out", output, "--epochs", "1", "--batch-size", "1",
            "--micro-batch-size", "1", "--max-seq-len", "96", "--lr", "1e-3"];
        Assert.Equal(0, await HuatuoAspire.Cli.Program.Main([.. common, "--dataset", dataset, "--connection", fixture.Infrastructure.DatabaseConnectionString]));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(output, "sft-data.jsonl")).Length);
        Assert.Equal(4, HuatuoAspire.Training.Observability.TrainingMetricsLog.Read(output).Count);
        Assert.NotEqual(0, await HuatuoAspire.Cli.Program.Main([.. common, "--dataset", dataset, "--data", Path.Combine(output, "sft-data.jsonl")]));
        Assert.Equal(2, await HuatuoAspire.Cli.Program.Main([.. common, "--dataset", "no-such-dataset", "--connection", fixture.Infrastructure.DatabaseConnectionString]));
    }

    [Fact]
    public async Task APpoRunHoldsOutTenPercentOfItsPromptsAndRecordsTheirScoreAtTheLastStep()
    {
        await using var host = await Host.StartAsync(fixture);
        var data = Path.Combine(host.Dir, "ppo.jsonl");
        await File.WriteAllLinesAsync(data, Enumerable.Range(1, 10).Select(i =>
            new JsonObject { ["Question"] = $"Dose {i} mg/kg for 10 kg?", ["Ground-True Answer"] = $"{10 * i} mg" }.ToJsonString()));
        var start = await host.Client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["kind"] = "ppo", ["policy"] = host.TinyModel(seed: 3), ["data"] = data, ["verifier"] = "rule", ["rollout_batch_size"] = 3,
            ["mini_batch_size"] = 3, ["ppo_epochs"] = 1, ["response_length"] = 4, ["save_every"] = 1000,
        });
        Assert.True(start.StatusCode == HttpStatusCode.Accepted, await start.Content.ReadAsStringAsync());
        var id = (await start.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();
        var run = await host.WaitForEndAsync(id);
        Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        // 9 training prompts in 3 rollout batches of one update each; the held-out prompt scored once at the end.
        Assert.Equal(3, run["step"]!.GetValue<int>());
        foreach (var figure in new[] { "eval_reward", "eval_accuracy", "eval_well_formed" })
            Assert.InRange(run["metrics"]![figure]!.GetValue<double>(), 0, 1);
    }

    [Fact]
    public async Task APpoRequestWithoutAVerifierUsesTheConfiguredClassifier()
    {
        Assert.Equal("rule", TrainingRunConfig.DefaultVerifier(null));
        var classifier = $"blob:training/test-{Guid.NewGuid():N}/verifier";
        await using var host = await Host.StartAsync(fixture, $"--{TrainingRunConfig.DefaultClassifierKey}={classifier}");
        var data = Path.Combine(host.Dir, "ppo.jsonl");
        await File.WriteAllTextAsync(data, new JsonObject { ["Question"] = "Dose?", ["Ground-True Answer"] = "10 mg" }.ToJsonString());
        var request = new Dictionary<string, object> { ["kind"] = "ppo", ["policy"] = host.TinyModel(seed: 5), ["data"] = data };

        // Not uploaded yet: the default classifier is what the request is checked against.
        var refused = await host.Client.PostAsJsonAsync("/api/training-runs", request);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains($"verifier classifier '{classifier}' is not a model folder in blob storage", await refused.Content.ReadAsStringAsync());

        // Uploaded: the run is queued and its stored config names the classifier; "rule" asked for stays "rule".
        await host.Store.UploadFolderAsync(host.TinyModel(seed: 6), TrainingRunConfig.BlobPrefix(classifier));
        var ids = new List<long>();
        foreach (var body in new[] { request, new Dictionary<string, object>(request) { ["verifier"] = "rule", ["save_every"] = 1000 } })
        {
            var start = await host.Client.PostAsJsonAsync("/api/training-runs", body);
            Assert.True(start.StatusCode == HttpStatusCode.Accepted, await start.Content.ReadAsStringAsync());
            ids.Add((await start.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>());
        }
        await using var db = await host.Db();
        var verifiers = new List<string?>();
        foreach (var id in ids)
            verifiers.Add(JsonNode.Parse((await db.TrainingRuns.SingleAsync(r => r.Id == id)).Config)!["verifier"]!.GetValue<string>());
        Assert.Equal(["classifier:" + classifier, "rule"], verifiers);
        foreach (var id in ids) await host.WaitForEndAsync(id);
    }

    /// <summary>The all-in-one host on the fixture's PostgreSQL and Azurite, with a scratch folder.</summary>
    private sealed class Host : IAsyncDisposable
    {
        private Host(WebApplication app, HttpClient client, string dir) { App = app; Client = client; Dir = dir; }

        public WebApplication App { get; }
        public HttpClient Client { get; }
        public string Dir { get; }
        public ArtifactStore Store => App.Services.GetRequiredService<ArtifactStore>();

        public static async Task<Host> StartAsync(InfrastructureFixture fixture, params string[] arguments)
        {
            var dir = Directory.CreateTempSubdirectory("huatuo-ppo-api-").FullName;
            var port = FreePort.Pick();
            var app = await AllInOneHost.CreateAsync(
                new AllInOneOptions(fixture.DataDirectory, $"http://127.0.0.1:{port}", [$"--Trainer:WorkDirectory={Path.Combine(dir, "work")}", $"--Trainer:DataFolders:0={dir}", .. arguments], ["trainer"]),
                fixture.Infrastructure, CancellationToken.None);
            await app.StartAsync();
            return new Host(app, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") }, dir);
        }

        public string TinyModel(int seed)
        {
            var path = Path.Combine(Dir, $"tiny-{seed}");
            if (!Directory.Exists(path)) using (ModelPresets.Create(path, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed)) { }
            return path;
        }

        public async Task<string> UploadTinyModelAsync(string name, int seed)
        {
            var prefix = $"training/test-{Guid.NewGuid():N}/{name}";
            await Store.UploadFolderAsync(TinyModel(seed), prefix);
            return prefix;
        }

        public async Task<string> AddDatasetAsync(int problems)
        {
            await using var db = await Db();
            var dataset = new Dataset { Name = $"ppo-{Guid.NewGuid():N}" };
            db.Datasets.Add(dataset);
            await db.SaveChangesAsync();
            for (var i = 1; i <= problems + 1; i++)
            {
                db.VerifiableProblems.Add(new VerifiableProblem
                {
                    DatasetId = dataset.Id, OpenEndedQuestion = $"Dose {i} mg/kg for 20 kg?", GroundTruthAnswer = $"{20 * i} mg",
                    // One rejected problem: not a PPO prompt.
                    Status = i <= problems ? ProblemStatus.Accepted : ProblemStatus.Rejected, ContentSha256 = Guid.NewGuid().ToString("N"),
                });
            }
            await db.SaveChangesAsync();
            return dataset.Name;
        }

        public async Task<long> AddRunAsync(TrainingRunConfig config)
        {
            await using var db = await Db();
            var run = new TrainingRun
            {
                Kind = TrainingRunKind.Ppo, Name = "resume test", Status = RunStatus.Queued,
                Config = System.Text.Json.JsonSerializer.Serialize(config, TrainingRunConfig.Json),
            };
            db.TrainingRuns.Add(run);
            await db.SaveChangesAsync();
            return run.Id;
        }

        public async Task<SortedDictionary<int, Dictionary<string, double>>> FiguresAsync(long id)
        {
            await using var db = await Db();
            var rows = await db.TrainingMetrics.Where(m => m.TrainingRunId == id).ToListAsync();
            Assert.Equal(rows.Count, rows.Select(r => (r.Step, r.Name)).Distinct().Count()); // no duplicate rows
            return new SortedDictionary<int, Dictionary<string, double>>(
                rows.GroupBy(r => r.Step).ToDictionary(g => g.Key, g => g.ToDictionary(r => r.Name, r => r.Value)));
        }

        public Task<HuatuoDbContext> Db() => App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();

        public async Task<List<string>> BlobNamesAsync(string prefix)
        {
            var names = new List<string>();
            await foreach (var blob in Store.ListAsync(prefix)) names.Add(blob.Name);
            return names;
        }

        public Task<JsonObject> WaitForEndAsync(long id) =>
            Eventually.ReachesAsync(async () => (await Client.GetFromJsonAsync<JsonObject>($"/api/training-runs/{id}"))!,
                run => run["status"]!.GetValue<string>() is not ("Queued" or "Running"), TimeSpan.FromMinutes(3), $"training run {id} to end");

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await App.StopAsync();
            await App.DisposeAsync();
            try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        }
    }
}
