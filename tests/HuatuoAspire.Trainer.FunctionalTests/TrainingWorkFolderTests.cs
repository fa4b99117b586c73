using System.Text.Json;
using HuatuoAspire.Dashboard.FunctionalTests;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Trainer.Jobs;
using HuatuoAspire.Training.Sft;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HuatuoAspire.Trainer.FunctionalTests;

/// <summary>Training state is each run's own: work folders per instance, checkpoints resumed only by the run that wrote them.</summary>
[Collection(InfrastructureCollection.Name)]
public sealed class TrainingWorkFolderTests(InfrastructureFixture fixture)
{
    [Fact]
    public async Task TwoInstancesWithTheirOwnDataFoldersNeverResumeAnotherRunsCheckpoint()
    {
        var dir = Directory.CreateTempSubdirectory("huatuo-two-instances-").FullName;
        var (model, data) = await TinySftRun.WriteAsync(dir, examples: 4, seed: 5);
        string DataFolder(string name) => Path.Combine(dir, name);
        await using var a = await AllInOneHost.CreateAsync(new AllInOneOptions(DataFolder("A"), "http://127.0.0.1:0", [], ["trainer"]), fixture.Infrastructure, CancellationToken.None);
        await using var b = await AllInOneHost.CreateAsync(new AllInOneOptions(DataFolder("B"), "http://127.0.0.1:0", [], ["trainer"]), fixture.Infrastructure, CancellationToken.None);
        var jobsA = a.Services.GetRequiredService<TrainingJobs>();
        var jobsB = b.Services.GetRequiredService<TrainingJobs>();

        // The same run id has a work folder under each instance's own data folder, nowhere shared.
        Assert.Equal(Path.Combine(DataFolder("A"), "training", "run-2"), jobsA.WorkDirectory(2));
        Assert.Equal(Path.Combine(DataFolder("B"), "training", "run-2"), jobsB.WorkDirectory(2));

        // Instance A trains a run to its end: a checkpoint after each of its 2 steps, locally and in blob storage.
        var first = await AddRunAsync(a, model, data, seed: 1);
        await jobsA.RunAsync(first, CancellationToken.None);
        Assert.Equal([1, 2], await StepsAsync(a, first));
        Assert.True(File.Exists(Path.Combine(jobsA.WorkDirectory(first), TrainingRunManifest.FileName)));
        string uploaded;
        await using (var db = await a.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync())
        {
            uploaded = await db.Checkpoints.Where(c => c.TrainingRunId == first && c.BlobName.Contains("/checkpoint-"))
                .OrderByDescending(c => c.Step).Select(c => c.BlobName).FirstAsync();
        }

        // Instance B's run finds another run's checkpoint in its work folder (as a shared /tmp folder, or a local
        // user, left it) and a blob checkpoint of another run under a prefix it has recorded (two databases sharing a
        // storage account): it resumes neither and trains from its first step.
        var second = await AddRunAsync(b, model, data, seed: 2);
        CopyFolder(jobsA.WorkDirectory(first), jobsB.WorkDirectory(second));
        var store = b.Services.GetRequiredService<ArtifactStore>();
        var copy = Path.Combine(dir, "copy");
        await store.DownloadFolderAsync(uploaded, copy);
        var foreign = $"training/run-{second}/checkpoint-1";
        await store.UploadFolderAsync(copy, foreign);
        await using (var db = await b.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync())
        {
            db.Checkpoints.Add(new Checkpoint { TrainingRunId = second, Step = 1, BlobName = foreign, Sha256 = new string('0', 64) });
            await db.SaveChangesAsync();
        }
        await jobsB.RunAsync(second, CancellationToken.None);
        Assert.Equal([1, 2], await StepsAsync(b, second));
        await using (var db = await b.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync())
            Assert.Equal(RunStatus.Succeeded, (await db.TrainingRuns.SingleAsync(r => r.Id == second)).Status);

        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }

    private static async Task<long> AddRunAsync(WebApplication app, string model, string data, int seed)
    {
        await using var db = await app.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var config = new TrainingRunConfig
        {
            Model = model, Data = data,
            Sft = new SftOptions { Epochs = 1, BatchSize = 2, MicroBatchSize = 1, MaxSeqLen = 64, SaveEvery = 1, LearningRate = 1e-3, Seed = seed },
        };
        var run = new TrainingRun { Kind = TrainingRunKind.Sft, Name = $"work folder {seed}", Status = RunStatus.Queued, Config = JsonSerializer.Serialize(config, TrainingRunConfig.Json) };
        db.TrainingRuns.Add(run);
        await db.SaveChangesAsync();
        return run.Id;
    }

    private static async Task<List<int>> StepsAsync(WebApplication app, long runId)
    {
        await using var db = await app.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        return await db.TrainingMetrics.Where(m => m.TrainingRunId == runId && m.Name == "loss").OrderBy(m => m.Step).Select(m => m.Step).ToListAsync();
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
