using System.Text.Json;
using Hangfire;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Trainer.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Trainer.Apis;

public static class TrainingRunsApi
{
    public static RouteGroupBuilder MapTrainingRunsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("api/training-runs");
        api.MapPost("", StartAsync).WithName("StartTrainingRun")
            .WithSummary("Queue a training run (SFT) for the training worker.").RequireAuthorization(AdminAccess.PolicyName);
        api.MapGet("{id:long}", GetAsync).WithName("GetTrainingRun")
            .WithSummary("A training run with its status, latest metrics and checkpoints.");
        api.MapPost("{id:long}/cancel", CancelAsync).WithName("CancelTrainingRun")
            .WithSummary("Ask a training run to stop after its current step.").RequireAuthorization(AdminAccess.PolicyName);
        return api;
    }

    private static async Task<Results<Accepted<TrainingRunView>, ValidationProblem>> StartAsync(
        TrainingRunConfig request, IDbContextFactory<HuatuoDbContext> contexts, IBackgroundJobClient jobs, CancellationToken ct)
    {
        var problems = request.Problems();
        if (problems.Count > 0) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["request"] = problems.ToArray() });
        await using var db = await contexts.CreateDbContextAsync(ct);
        var run = new TrainingRun
        {
            Kind = TrainingRunKind.Sft,
            Name = request.Name ?? $"sft {Path.GetFileName(request.Model.TrimEnd('/'))} on {Path.GetFileName(request.Data)}",
            Config = JsonSerializer.Serialize(request, TrainingRunConfig.Json),
            Status = RunStatus.Queued,
        };
        db.TrainingRuns.Add(run);
        await db.SaveChangesAsync(ct);
        jobs.Enqueue<TrainingJobs>(j => j.RunAsync(run.Id, CancellationToken.None));
        return TypedResults.Accepted($"/api/training-runs/{run.Id}", TrainingRunView.From(run, [], []));
    }

    private static async Task<Results<Ok<TrainingRunView>, NotFound>> GetAsync(long id, IDbContextFactory<HuatuoDbContext> contexts, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var run = await db.TrainingRuns.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, ct);
        if (run is null) return TypedResults.NotFound();
        var lastStep = await db.TrainingMetrics.Where(m => m.TrainingRunId == id).MaxAsync(m => (int?)m.Step, ct);
        var metrics = lastStep is null ? [] : await db.TrainingMetrics.AsNoTracking()
            .Where(m => m.TrainingRunId == id && m.Step == lastStep).ToListAsync(ct);
        var checkpoints = await db.Checkpoints.AsNoTracking().Where(c => c.TrainingRunId == id).OrderBy(c => c.Step).ToListAsync(ct);
        return TypedResults.Ok(TrainingRunView.From(run, metrics, checkpoints));
    }

    private static async Task<Results<Accepted, NotFound>> CancelAsync(long id, IDbContextFactory<HuatuoDbContext> contexts, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var updated = await db.TrainingRuns.Where(r => r.Id == id)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.CancellationRequested, true), ct);
        return updated == 0 ? TypedResults.NotFound() : TypedResults.Accepted($"/api/training-runs/{id}");
    }
}

public sealed record TrainingRunView(
    long Id, string Kind, string Name, string Status, string? Error, DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt,
    int? Step, IReadOnlyDictionary<string, double> Metrics, IReadOnlyList<CheckpointView> Checkpoints)
{
    public static TrainingRunView From(TrainingRun r, IReadOnlyList<TrainingMetric> last, IReadOnlyList<Checkpoint> checkpoints) => new(
        r.Id, r.Kind.ToString().ToLowerInvariant(), r.Name, r.Status.ToString(), r.Error, r.CreatedAt, r.StartedAt, r.FinishedAt,
        last.Count == 0 ? null : last[0].Step, last.ToDictionary(m => m.Name, m => m.Value),
        checkpoints.Select(c => new CheckpointView(c.Step, c.BlobName, c.SizeBytes, c.Sha256)).ToArray());
}

public sealed record CheckpointView(int Step, string BlobName, long SizeBytes, string Sha256);
