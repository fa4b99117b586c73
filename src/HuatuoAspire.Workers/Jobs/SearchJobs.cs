using Hangfire;
using Hangfire.Server;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Domain.Search;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Search;
using HuatuoAspire.Reasoning.Verification;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Workers.Jobs;

/// <summary>
/// Reasoning-path search as Hangfire jobs: a parent <see cref="PipelineRun"/> and one job per Accepted problem on
/// the "search" queue. An item is idempotent (a finished problem is skipped and the trajectory is written under a
/// row lock, so a re-run never duplicates it), resumable (a job whose worker died is picked up again by Hangfire and
/// starts the item over), cancellable (the run's flag is polled during the LLM work), and transient LLM errors are
/// retried by Hangfire with back-off before the item counts as failed.
/// </summary>
public sealed class SearchJobs(IDbContextFactory<HuatuoDbContext> dbs, LlmEndpointRegistry llms, IBackgroundJobClient jobs, ILogger<SearchJobs> logger)
{
    public const int JobRetries = 3;
    /// <summary>How often a running item checks whether its run was cancelled.</summary>
    public TimeSpan CancellationPollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Creates the run and enqueues one item job per Accepted problem; returns the run id.</summary>
    public async Task<long> StartRunAsync(SearchRunParameters parameters, CancellationToken ct = default)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        await PipelineRunProgress.EnsureNoActiveRunAsync(db, PipelineRunKind.Search, ct);
        var problems = db.VerifiableProblems.Where(p => p.Status == ProblemStatus.Accepted);
        if (parameters.DatasetId is { } datasetId) problems = problems.Where(p => p.DatasetId == datasetId);
        var ids = await problems.OrderBy(p => p.Id).Select(p => p.Id).Take(parameters.Limit ?? int.MaxValue).ToListAsync(ct);
        var run = await PipelineRunProgress.CreateRunAsync(db, PipelineRunKind.Search, parameters.ToJson(), ids,
            parameters.DatasetId is { } dataset ? $"Dataset {dataset} has no Accepted problem to search." : "No Accepted problem to search: run a construction first.", ct);
        foreach (var id in ids)
            jobs.Enqueue<SearchJobs>(Data.Jobs.HuatuoJobStorage.Queues.Search, j => j.SearchProblemAsync(run.Id, id, null, CancellationToken.None));
        logger.LogInformation("Search run {RunId}: {Count} problems enqueued", run.Id, ids.Count);
        return run.Id;
    }

    public async Task CancelRunAsync(long runId, CancellationToken ct = default)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        await PipelineRunProgress.CancelAsync(db, runId, ct);
    }

    /// <summary>One problem of a run. <paramref name="context"/> is Hangfire's (null when called directly).</summary>
    [AutomaticRetry(Attempts = JobRetries, DelaysInSeconds = [15, 60, 300], OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    public async Task SearchProblemAsync(long runId, long problemId, PerformContext? context, CancellationToken ct)
    {
        // Failed for good or deleted once and counted then (PipelineRunItemStateFilter): requeued by hand, it is not counted twice.
        if (context?.GetJobParameter<bool>(Data.Jobs.PipelineRunItemJob.CountedParameter) == true) return;
        PipelineRun? run;
        await using (var db = await dbs.CreateDbContextAsync(ct))
        {
            run = await db.PipelineRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId, ct);
            if (run is null || run.CancellationRequested) return;
            // Claim the problem; a finished one is skipped.
            var claimed = await db.VerifiableProblems
                .Where(p => p.Id == problemId && (p.Status == ProblemStatus.Accepted || p.Status == ProblemStatus.Searching))
                .ExecuteUpdateAsync(set => set.SetProperty(p => p.Status, ProblemStatus.Searching).SetProperty(p => p.UpdatedAt, DateTime.UtcNow), ct);
            if (claimed == 0)
            {
                // Only a repeated delivery of this run's item gets here (runs of one kind never overlap): it was counted.
                logger.LogInformation("Search run {RunId}: problem {ProblemId} is already finished; skipped", runId, problemId);
                return;
            }
        }

        var parameters = SearchRunParameters.FromJson(run.Parameters);
        using var cancellation = PipelineRunProgress.WatchCancellation(dbs, runId, CancellationPollInterval, ct);
        SearchResult result;
        VerifiableProblem problem;
        try
        {
            await using (var db = await dbs.CreateDbContextAsync(ct))
                problem = await db.VerifiableProblems.AsNoTracking().SingleAsync(p => p.Id == problemId, ct);
            var generator = llms.Get(parameters.Endpoint);
            var verifier = await new AnswerVerifierFactory(llms).CreateAsync(parameters.ResolveVerifier(), ct);
            var search = new ReasoningPathSearch(generator, verifier, parameters.ToSearchOptions());
            result = await search.SearchAsync(problem.OpenEndedQuestion, problem.GroundTruthAnswer, (int)problemId, cancellation.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && cancellation.IsCancellationRequested)
        {
            await ReleaseAsync(problemId);
            logger.LogInformation("Search run {RunId} cancelled during problem {ProblemId}", runId, problemId);
            return;
        }
        catch (LlmCallException exception) when ((context?.GetJobParameter<int>("RetryCount") ?? JobRetries) >= JobRetries)
        {
            // Out of Hangfire retries as well: the item counts as failed; the problem stays Accepted for a later run.
            await ReleaseAsync(problemId);
            await using var db = await dbs.CreateDbContextAsync(CancellationToken.None);
            await PipelineRunProgress.ItemFinishedAsync(db, runId, succeeded: false, CancellationToken.None, $"problem {problemId}: {exception.Message}");
            logger.LogWarning(exception, "Search run {RunId}: problem {ProblemId} failed permanently", runId, problemId);
            return;
        }
        catch
        {
            // A transient LLM error (or anything unexpected): hand the problem back; Hangfire retries the job with back-off.
            await ReleaseAsync(problemId);
            throw;
        }

        await SaveAsync(runId, problemId, result, ct);
    }

    private async Task ReleaseAsync(long problemId)
    {
        await using var db = await dbs.CreateDbContextAsync(CancellationToken.None);
        await db.VerifiableProblems.Where(p => p.Id == problemId && p.Status == ProblemStatus.Searching)
            .ExecuteUpdateAsync(set => set.SetProperty(p => p.Status, ProblemStatus.Accepted));
    }

    /// <summary>Writes the trajectory under a lock on the problem row, so two workers never both write one.</summary>
    private async Task SaveAsync(long runId, long problemId, SearchResult result, CancellationToken ct)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        var strategy = db.Database.CreateExecutionStrategy();
        await strategy.ExecuteAsync(async () =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            var status = await db.VerifiableProblems
                .FromSqlInterpolated($"""SELECT * FROM "VerifiableProblems" WHERE "Id" = {problemId} FOR UPDATE""")
                .Select(p => p.Status).SingleAsync(ct);
            if (status is ProblemStatus.Solved or ProblemStatus.Unsolved)
            {
                await transaction.RollbackAsync(ct);
                return;
            }
            var succeeded = result.Status != SearchStatus.Failed;
            db.ReasoningTrajectories.Add(ToTrajectory(problemId, result));
            await db.SaveChangesAsync(ct);
            await db.VerifiableProblems.Where(p => p.Id == problemId).ExecuteUpdateAsync(set => set
                .SetProperty(p => p.Status, succeeded ? ProblemStatus.Solved : ProblemStatus.Unsolved)
                .SetProperty(p => p.UpdatedAt, DateTime.UtcNow), ct);
            await PipelineRunProgress.ItemFinishedAsync(db, runId, succeeded, ct,
                succeeded ? null : $"problem {problemId}: no usable reasoning path after {result.Steps.Select(s => s.Attempt).DefaultIfEmpty(0).Max()} attempt(s)");
            await transaction.CommitAsync(ct);
        });
    }

    /// <summary>
    /// The search trace in the data model: one SearchAttempt per attempt, one SearchStep per reasoning exchange
    /// (initial chain, refinements, the label-guided continuation stored as a Correction); the reformat and final
    /// response become the trajectory's Complex_CoT and Response.
    /// </summary>
    public static ReasoningTrajectory ToTrajectory(long problemId, SearchResult result)
    {
        var trajectory = new ReasoningTrajectory
        {
            ProblemId = problemId,
            Question = result.Question,
            ComplexCot = result.ComplexCot,
            Response = result.Response,
            LabelGuided = result.Status == SearchStatus.LabelGuided,
            Status = result.Status == SearchStatus.Failed ? TrajectoryStatus.Failed : TrajectoryStatus.Succeeded,
        };
        foreach (var group in result.Steps.Where(s => s.Kind is SearchStepKind.InitialReasoning or SearchStepKind.Refinement or SearchStepKind.LabelGuided)
                     .GroupBy(s => s.Attempt).OrderBy(g => g.Key))
        {
            var attempt = new SearchAttempt
            {
                AttemptIndex = group.Key,
                Succeeded = group.Any(s => s.Verdict?.IsCorrect == true) || group.Any(s => s.Kind == SearchStepKind.LabelGuided && s.ParsedSteps is not null),
            };
            var index = 0;
            foreach (var step in group)
            {
                attempt.Steps.Add(new SearchStep
                {
                    StepIndex = index++,
                    Strategy = StrategyOf(step),
                    Prompt = step.Prompt,
                    RawOutput = string.Join("\n\n--- repair ---\n\n", step.RawOutputs),
                    // Copies: EF tracks owned JSON entities by reference, and one reply's steps may be shared by the trace.
                    ParsedSteps = (step.ParsedSteps ?? []).Select(s => s with { }).ToList(),
                    Verdict = step.ParsedSteps is null ? VerifierVerdict.Unparseable
                        : step.Verdict is null ? null
                        : step.Verdict.IsCorrect ? VerifierVerdict.Correct : VerifierVerdict.Incorrect,
                });
            }
            trajectory.Attempts.Add(attempt);
        }
        return trajectory;
    }

    private static SearchStrategy StrategyOf(SearchExchange step) => step.Kind switch
    {
        SearchStepKind.InitialReasoning => SearchStrategy.Init,
        SearchStepKind.LabelGuided => SearchStrategy.Correction,
        _ => step.Strategy switch
        {
            "Backtracking" => SearchStrategy.Backtracking,
            "Exploring New Paths" => SearchStrategy.ExploringNewPaths,
            "Verification" => SearchStrategy.Verification,
            _ => SearchStrategy.Correction,
        },
    };
}
