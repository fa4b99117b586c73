using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Workers.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Workers.Apis;

/// <summary>Start, watch and cancel construction and search runs (the dashboard and scripts call these).</summary>
public static class PipelineRunsApi
{
    public sealed record RunStarted(long Id);

    public sealed record RunView(long Id, string Kind, string Status, int ItemsTotal, int ItemsDone, int ItemsSucceeded, int ItemsFailed,
        bool CancellationRequested, string? Error, DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt, string Parameters);

    public static IEndpointRouteBuilder MapPipelineRunsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("api/pipeline-runs");
        api.MapGet("{id:long}", GetRunAsync).WithName("GetPipelineRun").WithSummary("A construction or search run with its progress counters.");
        api.MapPost("search", StartSearchAsync).WithName("StartSearchRun").WithSummary("Search reasoning paths for every Accepted problem (one job per problem).")
            .RequireAuthorization(AdminAccess.PolicyName);
        api.MapPost("construction", StartConstructionAsync).WithName("StartConstructionRun").WithSummary("Construct verifiable problems from exam questions (one job per question).")
            .RequireAuthorization(AdminAccess.PolicyName);
        api.MapPost("{id:long}/cancel", CancelAsync).WithName("CancelPipelineRun").WithSummary("Cancel a run; running items stop within seconds.")
            .RequireAuthorization(AdminAccess.PolicyName);
        return app;
    }

    private static async Task<Results<Ok<RunView>, NotFound>> GetRunAsync(long id, IDbContextFactory<HuatuoDbContext> dbs, CancellationToken ct)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        var run = await db.PipelineRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id, ct);
        return run is null
            ? TypedResults.NotFound()
            : TypedResults.Ok(new RunView(run.Id, run.Kind.ToString(), run.Status.ToString(), run.ItemsTotal, run.ItemsDone, run.ItemsSucceeded,
                run.ItemsFailed, run.CancellationRequested, run.Error, run.CreatedAt, run.StartedAt, run.FinishedAt, run.Parameters));
    }

    private static Task<Results<Accepted<RunStarted>, ProblemHttpResult>> StartSearchAsync(SearchRunParameters parameters, SearchJobs jobs, LlmEndpointRegistry llms, CancellationToken ct) =>
        StartAsync(() => jobs.StartRunAsync(parameters, ct), () =>
        {
            llms.Get(parameters.Endpoint);
            if (parameters.ResolveVerifier() is { Kind: VerifierKind.Llm } judge) llms.Get(judge.Endpoint);
            parameters.ToSearchOptions().Validate();
            if (parameters.Limit is < 1) throw new ArgumentException($"limit must be at least 1, got {parameters.Limit}.");
        });

    private static Task<Results<Accepted<RunStarted>, ProblemHttpResult>> StartConstructionAsync(ConstructionRunParameters parameters, ConstructionJobs jobs, LlmEndpointRegistry llms, CancellationToken ct) =>
        StartAsync(() => jobs.StartRunAsync(parameters, ct), () =>
        {
            llms.Get(parameters.Endpoint);
            foreach (var name in parameters.DifficultyEndpoints) llms.Get(name);
            Reasoning.Prompts.PromptLanguages.Parse(parameters.Language);
            if (parameters.Limit is < 1) throw new ArgumentException($"limit must be at least 1, got {parameters.Limit}.");
        });

    /// <summary>Checks the parameters before anything is written, so a typo in an endpoint name is a 400, not a run of failures.</summary>
    private static async Task<Results<Accepted<RunStarted>, ProblemHttpResult>> StartAsync(Func<Task<long>> start, Action validate)
    {
        try
        {
            validate();
        }
        catch (Exception exception) when (exception is LlmConfigurationException or ArgumentException)
        {
            return TypedResults.Problem(exception.Message, statusCode: StatusCodes.Status400BadRequest, title: "Invalid run parameters");
        }
        try
        {
            var id = await start();
            return TypedResults.Accepted($"/api/pipeline-runs/{id}", new RunStarted(id));
        }
        catch (InvalidOperationException exception)
        {
            return TypedResults.Problem(exception.Message, statusCode: StatusCodes.Status409Conflict, title: "A run of this kind is active");
        }
    }

    private static async Task<Results<NoContent, NotFound>> CancelAsync(long id, IDbContextFactory<HuatuoDbContext> dbs, SearchJobs jobs, CancellationToken ct)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        if (!await db.PipelineRuns.AnyAsync(r => r.Id == id, ct)) return TypedResults.NotFound();
        await jobs.CancelRunAsync(id, ct);
        return TypedResults.NoContent();
    }
}
