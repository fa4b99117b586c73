using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Dashboard.FunctionalTests;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.LocalServers;
using HuatuoAspire.Model;
using HuatuoAspire.Training.Observability;
using HuatuoAspire.Training.Sft;
using HuatuoAspire.Training.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;

namespace HuatuoAspire.Trainer.FunctionalTests;

/// <summary>
/// The "kill the trainer process mid-run and start it again": the real trainer (<c>huatuo up --services
/// trainer</c>, a separate OS process) on the fixture's PostgreSQL and Azurite is killed with SIGKILL once a checkpoint
/// is in blob storage; a second trainer process, with an empty work folder, gets the job again from Hangfire, fetches
/// the checkpoint from blob storage and finishes the run.
/// </summary>
[Collection(InfrastructureCollection.Name)]
public sealed class TrainerProcessKillTests(InfrastructureFixture fixture)
{
    /// <summary>
    /// The stated tolerance: every step's loss of the killed-and-resumed run equals the uninterrupted run's (same seed,
    /// computed in this process) within 1e-4 absolute + 1e-3 relative. The resumed state is exact (fp32 safetensors,
    /// AdamW moments, the schedule and every random choice are functions of (seed, step)), so only float
    /// summation-order noise may differ between processes.
    /// </summary>
    private const double AbsoluteTolerance = 1e-4;
    private const double RelativeTolerance = 1e-3;

    [Fact]
    public async Task ATrainerKilledMidRunIsRestartedAndTheRunResumesFromItsLastCheckpointOnTheSameLossCurve()
    {
        var dir = Directory.CreateTempSubdirectory("huatuo-trainer-kill-").FullName;
        var (model, data) = await TinySftRun.WriteAsync(dir, examples: 16, seed: 9);
        var options = new SftOptions
        {
            Epochs = 1, BatchSize = 2, MicroBatchSize = 1, MaxSeqLen = 128, SaveEvery = 3, LearningRate = 1e-3, Seed = 13,
            Placement = ModelPlacement.Cpu,
        };
        const int totalSteps = 8; // 16 examples, 2 per step; killed right after checkpoint 3 is uploaded (during step 4 or 5)

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var port = FreePort.Pick();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await using var first = TrainerProcess.Start(fixture, dir, port, "work-1");
        long id;
        int checkpointStep;
        long[] rowsBeforeCheckpoint;
        try
        {
            await first.WaitUntilHealthyAsync(client);
            Console.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: first trainer healthy");
            var start = await client.PostAsJsonAsync("/api/training-runs", new Dictionary<string, object>
            {
                ["model"] = model, ["data"] = data, ["epochs"] = options.Epochs, ["batch_size"] = options.BatchSize,
                ["micro_batch_size"] = options.MicroBatchSize, ["max_seq_len"] = options.MaxSeqLen, ["save_every"] = options.SaveEvery,
                ["learning_rate"] = options.LearningRate, ["seed"] = options.Seed, ["warmup_ratio"] = options.WarmupRatio,
            });
            Assert.True(start.IsSuccessStatusCode, await start.Content.ReadAsStringAsync());
            id = (await start.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();

            // SIGKILL as soon as a checkpoint is in blob storage (recorded in the database after its upload).
            var runId = id;
            checkpointStep = (await Eventually.ReachesAsync(async () =>
            {
                await using var db = Db();
                return await db.Checkpoints.Where(c => c.TrainingRunId == runId).MaxAsync(c => (int?)c.Step);
            }, step => step is not null, TimeSpan.FromSeconds(60), "the first checkpoint in blob storage", TimeSpan.FromMilliseconds(25),
                () => first.Output))!.Value;
            first.Kill();
        }
        finally
        {
            first.Kill();
        }

        await using (var db = Db())
        {
            var run = await db.TrainingRuns.SingleAsync(r => r.Id == id);
            Assert.True(run.Status == RunStatus.Running, $"the run should have been killed mid-run, but is {run.Status}");
            Assert.True(await db.TrainingMetrics.Where(m => m.TrainingRunId == id).MaxAsync(m => m.Step) < totalSteps);
            rowsBeforeCheckpoint = await db.TrainingMetrics.Where(m => m.TrainingRunId == id && m.Step <= checkpointStep)
                .Select(m => m.Id).OrderBy(i => i).ToArrayAsync();
        }

        Console.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: killed");
        // A new trainer process with an empty work folder: Hangfire delivers the job again once its fetch has expired.
        await using var second = TrainerProcess.Start(fixture, dir, port, "work-2");
        JsonObject final;
        var end = DateTime.UtcNow.AddSeconds(120);
        do
        {
            await Task.Delay(300);
            try { final = (await client.GetFromJsonAsync<JsonObject>($"/api/training-runs/{id}"))!; }
            catch (HttpRequestException) { final = new JsonObject { ["status"] = "Running" }; } // still starting
        } while (final["status"]!.GetValue<string>() is "Queued" or "Running" && DateTime.UtcNow < end);
        Assert.True(final["status"]!.GetValue<string>() == "Succeeded", $"{final.ToJsonString()}\n{second.Output}");
        Assert.Contains($"restored checkpoint {checkpointStep} from blob storage", second.Output);
        second.Kill();
        Console.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: resumed run finished");

        await using (var db = Db())
        {
            var rows = await db.TrainingMetrics.Where(m => m.TrainingRunId == id).ToListAsync();
            // Step numbering continues with no gap and no duplicate (step, figure) rows; the rows up to the
            // checkpoint are the first process's own (kept, not recomputed), the ones after it were dropped and redone.
            Assert.Equal(Enumerable.Range(1, totalSteps), rows.Select(r => r.Step).Distinct().Order());
            Assert.Equal(rows.Count, rows.Select(r => (r.Step, r.Name)).Distinct().Count());
            Assert.Equal(rowsBeforeCheckpoint, rows.Where(r => r.Step <= checkpointStep).Select(r => r.Id).Order());
            var created = (await db.TrainingRuns.SingleAsync(r => r.Id == id)).CreatedAt;
            Console.WriteLine("timeline (s after the request): " + string.Join(", ", rows.Where(r => r.Name == "loss").OrderBy(r => r.Id)
                .Select(r => $"step {r.Step} {(r.RecordedAt - created).TotalSeconds:0.0}")));

            // The uninterrupted curve, same seed, computed here.
            var reference = Path.Combine(dir, "reference");
            new SftTrainer(options).Run(model, TrainingDataFile.ReadSft(data), reference);
            var expected = TrainingMetricsLog.Read(reference).ToDictionary(m => m["step"]!.GetValue<int>() + 1, m => m["loss"]!.GetValue<double>());
            Assert.Equal(totalSteps, expected.Count);
            var worst = 0.0;
            foreach (var row in rows.Where(r => r.Name == "loss"))
            {
                var diff = Math.Abs(row.Value - expected[row.Step]);
                worst = Math.Max(worst, diff);
                Assert.True(diff <= AbsoluteTolerance + RelativeTolerance * Math.Abs(expected[row.Step]),
                    $"step {row.Step}: resumed run {row.Value}, uninterrupted {expected[row.Step]} (checkpoint {checkpointStep})");
            }
            Console.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: killed after checkpoint {checkpointStep}; largest loss difference from the uninterrupted run: {worst:E2}");
        }
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }

    private HuatuoDbContext Db() => HuatuoDataExtensions.CreateDbContext(fixture.Infrastructure.DatabaseConnectionString);

    /// <summary>The built <c>huatuo</c> CLI running only the trainer, as its own OS process.</summary>
    private sealed class TrainerProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        private TrainerProcess(Process process) => _process = process;

        public string Output { get { lock (_output) return _output.ToString(); } }

        public static TrainerProcess Start(InfrastructureFixture fixture, string dir, int port, string work)
        {
            var info = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "huatuo.dll"), "up", "--services", "trainer",
                         "--urls", $"http://127.0.0.1:{port}", "--data-dir", Path.Combine(dir, "data") })
                info.ArgumentList.Add(arg);
            info.Environment[$"ConnectionStrings__{ConnectionNames.Database}"] = fixture.Infrastructure.DatabaseConnectionString;
            info.Environment[$"ConnectionStrings__{ConnectionNames.Blobs}"] = fixture.Infrastructure.BlobConnectionString;
            info.Environment["Trainer__WorkDirectory"] = Path.Combine(dir, work);
            info.Environment["Trainer__DataFolders__0"] = dir;
            // A killed worker's job is handed out again after this long (the fetch slides while a worker lives).
            info.Environment["Jobs__InvisibilityTimeoutSeconds"] = "3";
            info.Environment["NO_COLOR"] = "1";
            info.Environment["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning";
            var process = new Process { StartInfo = info };
            var trainer = new TrainerProcess(process);
            process.OutputDataReceived += (_, e) => trainer.Append(e.Data);
            process.ErrorDataReceived += (_, e) => trainer.Append(e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return trainer;
        }

        /// <summary>Until the trainer's job server answers healthy; fails with the process's output if it exits or takes too long.</summary>
        public async Task WaitUntilHealthyAsync(HttpClient client)
        {
            async Task<bool> HealthyAsync()
            {
                try
                {
                    using var response = await client.GetAsync("/health/trainer");
                    return response.IsSuccessStatusCode;
                }
                catch (HttpRequestException) { return false; } // not listening yet
            }
            var healthy = await Eventually.ReachesAsync(HealthyAsync, answered => answered || _process.HasExited, TimeSpan.FromSeconds(90),
                "the trainer to answer healthy", detail: () => Output);
            Assert.True(healthy, healthy ? "" : $"the trainer process exited with {_process.ExitCode}\n{Output}");
        }

        private void Append(string? line)
        {
            if (line is null) return;
            lock (_output) _output.AppendLine(line);
        }

        /// <summary>SIGKILL: no shutdown hooks, no flushing, exactly like a crashed or evicted machine.</summary>
        public void Kill()
        {
            try
            {
                if (!_process.HasExited) { _process.Kill(entireProcessTree: true); _process.WaitForExit(10_000); }
            }
            catch (InvalidOperationException) { }
        }

        public ValueTask DisposeAsync()
        {
            Kill();
            _process.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
