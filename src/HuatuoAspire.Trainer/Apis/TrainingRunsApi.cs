using System.Text.Json;
using Hangfire;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Llm;
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
            .WithSummary("Queue a training run (SFT or PPO) for the training worker.").RequireAuthorization(AdminAccess.PolicyName);
        api.MapGet("{id:long}", GetAsync).WithName("GetTrainingRun")
            .WithSummary("A training run with its status, latest metrics and checkpoints.");
        api.MapPost("{id:long}/cancel", CancelAsync).WithName("CancelTrainingRun")
            .WithSummary("Ask a training run to stop after its current step.").RequireAuthorization(AdminAccess.PolicyName);
        return api;
    }

    private static async Task<Results<Accepted<TrainingRunView>, ValidationProblem>> StartAsync(
        TrainingRunConfig request, IDbContextFactory<HuatuoDbContext> contexts, IBackgroundJobClient jobs, ArtifactStore artifacts,
        TrainingDataFolders dataFolders, Lazy<LlmEndpointRegistry> llms, IConfiguration configuration, CancellationToken ct)
    {
        if (request.IsPpo && request.Verifier is null)
            request = request with { Verifier = TrainingRunConfig.DefaultVerifier(configuration[TrainingRunConfig.DefaultClassifierKey]) };
        var problems = request.Problems().ToList();
        if (dataFolders.Refusal(request.Data) is { } refused)
        {
            // Whether a refused file exists is not for the caller to learn.
            problems.Remove($"data '{request.Data}' does not exist.");
            problems.Insert(0, refused);
        }
        await using var db = await contexts.CreateDbContextAsync(ct);
        if (problems.Count == 0) problems.AddRange(await ReferenceProblemsAsync(request, db, artifacts, llms, ct));
        if (problems.Count > 0) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["request"] = problems.ToArray() });
        var run = new TrainingRun
        {
            Kind = request.IsPpo ? TrainingRunKind.Ppo : TrainingRunKind.Sft,
            Name = request.Name ?? $"{request.Kind} {ShortName(request.StartModel)} on {ShortName(request.Dataset ?? request.Data!)}",
            Config = JsonSerializer.Serialize(request.WithStageOptionsWrittenOut(), TrainingRunConfig.Json),
            Status = RunStatus.Queued,
        };
        db.TrainingRuns.Add(run);
        await db.SaveChangesAsync(ct);
        jobs.Enqueue<TrainingJobs>(j => j.RunAsync(run.Id, CancellationToken.None));
        return TypedResults.Accepted($"/api/training-runs/{run.Id}", TrainingRunView.From(run, [], []));
    }

    public const string HiddenError = "The run failed; sign in as an admin to see why.";

    private static string ShortName(string reference) => TrainingRunConfig.IsBlob(reference)
        ? TrainingRunConfig.BlobPrefix(reference)
        : Path.GetFileName(reference.TrimEnd('/'));

    /// <summary>What the request names elsewhere: blobs that must exist, the dataset, the judge endpoint.</summary>
    private static async Task<IReadOnlyList<string>> ReferenceProblemsAsync(TrainingRunConfig request, HuatuoDbContext db,
        ArtifactStore artifacts, Lazy<LlmEndpointRegistry> llms, CancellationToken ct)
    {
        var problems = new List<string>();
        var references = new List<(string What, string Reference, bool Folder)>
        {
            (request.IsPpo ? "policy" : "model", request.StartModel, true),
        };
        if (request.Value is not null) references.Add(("value", request.Value, true));
        if (request.Data is not null) references.Add(("data", request.Data, false));
        var verifier = request.IsPpo ? VerifierSpecification.Parse(request.VerifierSpec) : null;
        if (verifier is { Kind: VerifierKind.Classifier }) references.Add(("verifier classifier", verifier.ClassifierModel!, true));
        foreach (var (what, reference, folder) in references.Where(r => TrainingRunConfig.IsBlob(r.Reference)))
        {
            var name = TrainingRunConfig.BlobPrefix(reference);
            var found = false;
            await foreach (var blob in artifacts.ListAsync(folder ? name + "/" : name, ct))
            {
                found = folder ? blob.Name == $"{name}/config.json" || found : blob.Name == name;
                if (found) break;
            }
            if (!found) problems.Add(folder ? $"{what} '{reference}' is not a model folder in blob storage (no {name}/config.json)." : $"{what} '{reference}' is not in blob storage.");
        }
        if (request.Dataset is not null && !await db.Datasets.AnyAsync(d => d.Name == request.Dataset, ct))
            problems.Add($"dataset '{request.Dataset}' does not exist.");
        if (verifier is { Kind: VerifierKind.Llm })
        {
            try
            {
                llms.Value.Get(verifier.Endpoint);
            }
            catch (LlmConfigurationException e)
            {
                problems.Add($"verifier '{request.Verifier}': {e.Message}");
            }
        }
        return problems;
    }

    private static async Task<Results<Ok<TrainingRunView>, NotFound>> GetAsync(long id, IDbContextFactory<HuatuoDbContext> contexts,
        HttpContext http, AdminAccess access, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var run = await db.TrainingRuns.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, ct);
        if (run is null) return TypedResults.NotFound();
        var lastStep = await db.TrainingMetrics.Where(m => m.TrainingRunId == id).MaxAsync(m => (int?)m.Step, ct);
        var metrics = lastStep is null ? [] : await db.TrainingMetrics.AsNoTracking()
            .Where(m => m.TrainingRunId == id && m.Step == lastStep).ToListAsync(ct);
        var checkpoints = await db.Checkpoints.AsNoTracking().Where(c => c.TrainingRunId == id).OrderBy(c => c.Step).ToListAsync(ct);
        // A run's error can name server paths (a model folder, a work folder): admins only.
        if (run.Error is not null && !await access.IsAdminAsync(http)) run.Error = HiddenError;
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
