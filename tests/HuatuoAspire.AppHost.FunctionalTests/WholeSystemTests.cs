using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Azure.Storage.Blobs;
using HuatuoAspire.ScriptedLlm;
using HuatuoAspire.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HuatuoAspire.AppHost.FunctionalTests;

/// <summary>
/// The real AppHost, as F5 starts it on a machine without a container runtime: PostgreSQL and Azurite as executables,
/// migrations to completion, then every service its own process. The whole pipeline is driven the way a user drives it
/// (the command line and the services' HTTP APIs), with the external LLM parameter pointing at a scripted endpoint.
/// </summary>
public sealed class WholeSystemTests
{
    private static readonly TimeSpan Startup = TimeSpan.FromMinutes(4);
    private static readonly string[] Services = ["inference", "workers", "trainer", "dashboard"];

    [Fact]
    public async Task TheAppHostRunsThePipelineFromImportToEvaluationAndLeavesNoProcessBehind()
    {
        var data = Path.Combine(Path.GetTempPath(), $"huatuo-apphost-{Guid.NewGuid():N}");
        await using var llm = await ScriptedChatServer.StartAsync(PipelineScript.Answer);
        string database, blobs;
        var markers = new List<string> { data };
        try
        {
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.HuatuoAspire_AppHost>(
            [
                $"--DataDirectory={data}", "--DashboardPort=0", "--InferencePort=0",
                "--Parameters:infrastructure=executables",
                $"--Parameters:llm-url={llm.BaseUrl}", "--Parameters:llm-model=scripted-model",
                // The resources' own logs and the start-up health probes would bury a failure's message in CI's log.
                "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.Extensions.Diagnostics.HealthChecks=None",
                "--Logging:LogLevel:HuatuoAspire.AppHost.Resources=None",
            ]);
            await using (var app = await builder.BuildAsync())
            {
                using var startup = new CancellationTokenSource(Startup);
                await app.StartAsync(startup.Token);
                await AssertEveryResourceIsUpAsync(app, startup.Token);

                database = (await app.GetConnectionStringAsync("huatuodb"))!;
                blobs = (await app.GetConnectionStringAsync("blobs"))!;
                markers.Add(database);
                markers.Add(blobs);
                Assert.NotEmpty(ServiceProcesses.Find([.. markers]));

                using var workers = Client(app, "workers");
                using var trainer = Client(app, "trainer");
                using var inference = Client(app, "inference");
                using var dashboard = Client(app, "dashboard");
                Assert.Equal(HttpStatusCode.OK, (await dashboard.GetAsync("/health")).StatusCode);

                var cli = new Dictionary<string, string> { ["ConnectionStrings__huatuodb"] = database, ["ConnectionStrings__blobs"] = blobs };
                await ImportAsync(cli, data);

                // Construction and search call the external endpoint: the AppHost made it the services' default.
                var construction = await RunToEndAsync(workers, "api/pipeline-runs/construction", new { limit = 3 });
                Assert.Equal(("Succeeded", 3, 3), (construction["status"]!.GetValue<string>(), construction["itemsTotal"]!.GetValue<int>(), construction["itemsSucceeded"]!.GetValue<int>()));
                var search = await RunToEndAsync(workers, "api/pipeline-runs/search", new { maxDepth = 1, maxAttempts = 1 });
                // The demo records come with their reasoning: the three constructed problems are what there is to search.
                Assert.Equal(("Succeeded", 3, 3), (search["status"]!.GetValue<string>(), search["itemsTotal"]!.GetValue<int>(), search["itemsSucceeded"]!.GetValue<int>()));
                Assert.Contains(llm.Requests, r => r.Messages.Any(m => m.Content.StartsWith("<Multiple-choice Question>", StringComparison.Ordinal)));
                Assert.Contains(llm.Requests, r => r.Messages.Any(m => m.Content.StartsWith("<Model Response>", StringComparison.Ordinal)));
                AssertEachSearchItemIsOneTrace(llm.Requests, items: 3);

                // The searched paths become SFT data; a small SFT run starts as the dashboard's form starts it.
                var sft = Path.Combine(data, "sft.jsonl");
                await HuatuoCommand.RunAsync(cli, "export", "--what", "sft", "--format", "jsonl", "--dataset", "mcq", "--out", sft);
                Assert.Equal(3, File.ReadLines(sft).Count());
                var run = await TrainAsync(trainer, Path.Combine(data, "models", "default"), sft);

                // Serve the run's checkpoint from blob storage, talk to it, and evaluate it.
                var switched = await inference.PostAsJsonAsync("/admin/inference/model", new Dictionary<string, string> { ["blob_prefix"] = $"training/run-{run}/final" });
                Assert.True(switched.IsSuccessStatusCode, await switched.Content.ReadAsStringAsync());
                var served = await Eventually.ReachesAsync(() => inference.GetFromJsonAsync<JsonObject>("/v1/models")!,
                    m => m!["data"]![0]!["owned_by"]!.GetValue<string>().Contains($"training_run-{run}_final", StringComparison.Ordinal),
                    TimeSpan.FromMinutes(1), "the checkpoint being served");
                // Downloaded into the AppHost's data folder, not the service's working directory.
                Assert.Contains(Path.Combine(data, "models", "checkpoints"), served!["data"]![0]!["owned_by"]!.GetValue<string>());
                var model = served!["data"]![0]!["id"]!.GetValue<string>();
                var chat = await inference.PostAsJsonAsync("/v1/chat/completions", new
                {
                    model,
                    messages = new[] { new { role = "user", content = "What is 2 + 2?" } }, max_tokens = 8, temperature = 0,
                });
                Assert.True(chat.StatusCode == HttpStatusCode.OK, await chat.Content.ReadAsStringAsync());
                var completion = (await chat.Content.ReadFromJsonAsync<JsonObject>())!;
                Assert.Equal(model, completion["model"]!.GetValue<string>());
                Assert.InRange(completion["usage"]!["completion_tokens"]!.GetValue<int>(), 1, 8);

                var evaluation = await EvaluateAsync(workers);
                // The limit is per benchmark: 4 of MedQA's 6 and MedMCQA's 4.
                Assert.Equal(8, evaluation["questionsTotal"]!.GetValue<int>());
                Assert.Equal(8, evaluation["answered"]!.GetValue<int>() + evaluation["failed"]!.GetValue<int>());

                await AssertStoredAsync(database, blobs, run);
            }

            // Disposing the app stops every resource: nothing it started is left running.
            await Eventually.ReachesAsync(() => Task.FromResult(ServiceProcesses.Find([.. markers])), p => p.Count == 0,
                TimeSpan.FromMinutes(1), "every process of the AppHost ending");
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static async Task AssertEveryResourceIsUpAsync(DistributedApplication app, CancellationToken ct)
    {
        var notifications = app.Services.GetRequiredService<ResourceNotificationService>();
        var migrations = await notifications.WaitForResourceAsync("migrations",
            e => e.Snapshot.State?.Text is { } s && (s == KnownResourceStates.Finished || s == KnownResourceStates.Exited || s == KnownResourceStates.FailedToStart), ct);
        Assert.Equal((KnownResourceStates.Finished, 0), (migrations.Snapshot.State!.Text, migrations.Snapshot.ExitCode));
        foreach (var name in (string[])["postgres", "huatuodb", "storage", "blobs", .. Services])
        {
            var ready = await notifications.WaitForResourceHealthyAsync(name, ct);
            Assert.Equal(KnownResourceStates.Running, ready.Snapshot.State?.Text);
        }
        // The infrastructure parameter says which way PostgreSQL and Azurite run.
        Assert.Contains(app.Services.GetRequiredService<DistributedApplicationModel>().Resources.OfType<ParameterResource>(),
            p => p.Name == "infrastructure");
    }

    /// <summary>
    /// The workers export traces (the Aspire dashboard shows them): each search item's job is one trace, so the LLM
    /// calls of one item carry one trace id in their <c>traceparent</c>, and different items carry different ones.
    /// </summary>
    private static void AssertEachSearchItemIsOneTrace(IReadOnlyList<RecordedRequest> requests, int items)
    {
        static bool IsConstruction(RecordedRequest r) => r.Messages.Any(m =>
            m.Content.StartsWith("<Multiple-choice Question>", StringComparison.Ordinal) || m.Content.StartsWith("Rewrite the multiple-choice", StringComparison.Ordinal));
        var search = requests.Where(r => !IsConstruction(r)).ToList();
        Assert.All(search, r => Assert.True(r.Headers.ContainsKey("traceparent"), "an LLM call without trace context"));
        var traces = search.GroupBy(r => r.Headers["traceparent"].Split('-')[1]).ToList();
        Assert.Equal(items, traces.Count);
        // initial chain of thought, judge, rewrite into natural reasoning, final response
        Assert.All(traces, t => Assert.Equal(4, t.Count()));
    }

    private static HttpClient Client(DistributedApplication app, string service) =>
        new() { BaseAddress = app.GetEndpoint(service, "http"), Timeout = TimeSpan.FromMinutes(2) };

    private static async Task ImportAsync(Dictionary<string, string> cli, string data)
    {
        var demo = SharedData.DemoFile;
        await HuatuoCommand.RunAsync(cli, "import", demo, "--format", "demo", "--dataset", "demo");
        var mcq = Path.Combine(data, "medqa.jsonl");
        await File.WriteAllLinesAsync(mcq, Enumerable.Range(1, 3).Select(i => JsonSerializer.Serialize(new
        {
            question = $"A traveller back from Kenya (case {i}) has vivax malaria on a blood smear and is treated for the blood stage. Which drug clears the dormant liver stage?",
            options = new Dictionary<string, string> { ["A"] = "Chloroquine", ["B"] = "Primaquine", ["C"] = "Artesunate", ["D"] = "Doxycycline" },
            answer_idx = "B",
            answer = "Primaquine",
        })));
        await HuatuoCommand.RunAsync(cli, "import", mcq, "--format", "medqa", "--dataset", "mcq");
    }

    private static async Task<JsonObject> RunToEndAsync(HttpClient workers, string route, object body)
    {
        var started = await workers.PostAsJsonAsync(route, body);
        Assert.True(started.StatusCode == HttpStatusCode.Accepted, await started.Content.ReadAsStringAsync());
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();
        return (await Eventually.ReachesAsync(() => workers.GetFromJsonAsync<JsonObject>($"api/pipeline-runs/{id}"),
            r => r!["status"]!.GetValue<string>() is not ("Queued" or "Running"), TimeSpan.FromMinutes(3), $"{route} run {id} ending"))!;
    }

    private static async Task<long> TrainAsync(HttpClient trainer, string model, string data)
    {
        var start = await trainer.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
        {
            ["kind"] = "sft", ["model"] = model, ["data"] = data, ["epochs"] = 1, ["batch_size"] = 1, ["micro_batch_size"] = 1,
            ["max_seq_len"] = 128, ["learning_rate"] = 1e-3,
        });
        Assert.True(start.StatusCode == HttpStatusCode.Accepted, await start.Content.ReadAsStringAsync());
        var id = (await start.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();
        var run = await Eventually.ReachesAsync(() => trainer.GetFromJsonAsync<JsonObject>($"/api/training-runs/{id}"),
            r => r!["status"]!.GetValue<string>() is not ("Queued" or "Running"), TimeSpan.FromMinutes(4), $"training run {id} ending");
        Assert.True(run!["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        Assert.Equal(3, run["step"]!.GetValue<int>()); // 3 examples, 1 per optimizer step, 1 epoch
        return id;
    }

    private static async Task<JsonObject> EvaluateAsync(HttpClient workers)
    {
        var benchmark = Checkout.Path("tests", "HuatuoAspire.Evaluation.UnitTests", "data", "sample_benchmarks.json");
        using var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(await File.ReadAllBytesAsync(benchmark)), "file", "sample_benchmarks.json" },
            { new StringContent("4"), "limit" },
            { new StringContent("8"), "maxTokens" },
        };
        var started = await workers.PostAsync("api/evaluation-runs", form);
        Assert.True(started.StatusCode == HttpStatusCode.Accepted, await started.Content.ReadAsStringAsync());
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();
        var run = await Eventually.ReachesAsync(() => workers.GetFromJsonAsync<JsonObject>($"api/evaluation-runs/{id}"),
            r => r!["status"]!.GetValue<string>() is not ("Queued" or "Running"), TimeSpan.FromMinutes(3), $"evaluation run {id} ending");
        Assert.True(run!["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        return run;
    }

    private static async Task AssertStoredAsync(string database, string blobs, long run)
    {
        await using (var db = HuatuoDataExtensions.CreateDbContext(database))
        {
            Assert.Equal(3, await db.VerifiableProblems.CountAsync(p => p.Dataset!.Name == "mcq"));
            Assert.Equal(3, await db.ReasoningTrajectories.CountAsync(t => t.Problem!.Dataset!.Name == "mcq" && t.ComplexCot != null));
            Assert.True(await db.TrainingMetrics.CountAsync(m => m.TrainingRunId == run) >= 3);
            Assert.Equal(8, await db.EvaluationResults.CountAsync());
        }

        var container = new BlobServiceClient(blobs).GetBlobContainerClient("huatuo");
        var names = new List<string>();
        await foreach (var blob in container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, $"training/run-{run}/final/", CancellationToken.None)) names.Add(blob.Name);
        Assert.Contains($"training/run-{run}/final/model.safetensors", names);
        Assert.Contains($"training/run-{run}/final/config.json", names);
    }
}
