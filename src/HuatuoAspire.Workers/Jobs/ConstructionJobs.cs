using System.Text.Json;
using Hangfire;
using Hangfire.Server;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Reasoning.Construction;
using HuatuoAspire.Reasoning.Llm;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace HuatuoAspire.Workers.Jobs;

/// <summary>What a construction run does; stored as the run's Parameters (jsonb).</summary>
public sealed record ConstructionRunParameters
{
    /// <summary>Construct from this dataset's exam questions (all datasets when null).</summary>
    public long? DatasetId { get; init; }
    /// <summary>The LLM that filters and rewrites (Llm:Endpoints:&lt;name&gt;); null: the default
    /// endpoint (<c>Llm:DefaultEndpoint</c>, else our own inference service).</summary>
    public string? Endpoint { get; init; }
    /// <summary>Named endpoints of the small models of the difficulty filter (none: the filter is skipped).</summary>
    public IReadOnlyList<string> DifficultyEndpoints { get; init; } = [];
    public bool LlmFilter { get; init; } = true;
    public int MinQuestionCharacters { get; init; } = 40;
    /// <summary>en or zh: the language of the rewritten open-ended questions and answers.</summary>
    public string Language { get; init; } = "en";
    public int? Limit { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, SearchRunParameters.Json);

    public static ConstructionRunParameters FromJson(string json) =>
        JsonSerializer.Deserialize<ConstructionRunParameters>(json, SearchRunParameters.Json) ?? throw new InvalidOperationException("construction run parameters are empty");
}

/// <summary>
/// Construction of verifiable problems as Hangfire jobs: a parent run and one job per exam question without a
/// problem yet, on the "construction" queue. The problem row is keyed by the exam question's content hash (unique
/// per dataset), so a re-run or a second worker can never write a second one; rejected questions are stored too,
/// with the verdicts and every prompt and raw answer, so a rejection shows why.
/// </summary>
public sealed class ConstructionJobs(IDbContextFactory<HuatuoDbContext> dbs, LlmEndpointRegistry llms, IBackgroundJobClient jobs, ILogger<ConstructionJobs> logger)
{
    public const int JobRetries = 3;

    /// <summary>How often a running item checks whether its run was cancelled.</summary>
    public TimeSpan CancellationPollInterval { get; init; } = TimeSpan.FromSeconds(2);

    public async Task CancelRunAsync(long runId, CancellationToken ct = default)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        await PipelineRunProgress.CancelAsync(db, runId, ct);
    }

    public async Task<long> StartRunAsync(ConstructionRunParameters parameters, CancellationToken ct = default)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        await PipelineRunProgress.EnsureNoActiveRunAsync(db, PipelineRunKind.Construction, ct);
        var questions = db.ExamQuestions.Where(q => !db.VerifiableProblems.Any(p => p.ExamQuestionId == q.Id));
        if (parameters.DatasetId is { } datasetId) questions = questions.Where(q => q.DatasetId == datasetId);
        var ids = await questions.OrderBy(q => q.Id).Select(q => q.Id).Take(parameters.Limit ?? int.MaxValue).ToListAsync(ct);
        var run = await PipelineRunProgress.CreateRunAsync(db, PipelineRunKind.Construction, parameters.ToJson(), ids,
            parameters.DatasetId is { } dataset ? $"Dataset {dataset} has no exam question without a problem." : "No exam question without a problem: import questions first.", ct);
        foreach (var id in ids)
            jobs.Enqueue<ConstructionJobs>(Data.Jobs.HuatuoJobStorage.Queues.Construction, j => j.ConstructQuestionAsync(run.Id, id, null, CancellationToken.None));
        logger.LogInformation("Construction run {RunId}: {Count} questions enqueued", run.Id, ids.Count);
        return run.Id;
    }

    [AutomaticRetry(Attempts = JobRetries, DelaysInSeconds = [15, 60, 300], OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    public async Task ConstructQuestionAsync(long runId, long examQuestionId, PerformContext? context, CancellationToken ct)
    {
        // Failed for good or deleted once and counted then (PipelineRunItemStateFilter): requeued by hand, it is not counted twice.
        if (context?.GetJobParameter<bool>(Data.Jobs.PipelineRunItemJob.CountedParameter) == true) return;
        PipelineRun? run;
        ExamQuestion? question;
        await using (var db = await dbs.CreateDbContextAsync(ct))
        {
            run = await db.PipelineRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId, ct);
            if (run is null || run.CancellationRequested) return;
            question = await db.ExamQuestions.AsNoTracking().SingleOrDefaultAsync(q => q.Id == examQuestionId, ct);
            var existing = await db.VerifiableProblems.Where(p => p.ExamQuestionId == examQuestionId).Select(p => (ProblemStatus?)p.Status).FirstOrDefaultAsync(ct);
            if (question is null)
            {
                await PipelineRunProgress.ItemFinishedAsync(db, runId, succeeded: false, ct, $"question {examQuestionId}: deleted since the run started");
                return;
            }
            // Only a repeated delivery of this run's item finds a problem (runs of one kind never overlap): it was counted.
            if (existing is not null) return;
        }

        var parameters = ConstructionRunParameters.FromJson(run.Parameters);
        var mcq = new MultipleChoiceQuestion(question.Question, question.Options.OrderBy(o => o.Key, StringComparer.Ordinal).ToList(), question.AnswerIdx, question.Answer);
        using var cancellation = PipelineRunProgress.WatchCancellation(dbs, runId, CancellationPollInterval, ct);
        ConstructionResult result;
        try
        {
            var construction = new ProblemConstruction(llms.Get(parameters.Endpoint), parameters.DifficultyEndpoints.Select(name => llms.Get(name)).ToList(),
                new ConstructionOptions
                {
                    LlmFilter = parameters.LlmFilter, MinQuestionCharacters = parameters.MinQuestionCharacters,
                    Language = Reasoning.Prompts.PromptLanguages.Parse(parameters.Language),
                });
            result = await construction.ConstructAsync(mcq, cancellation.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && cancellation.IsCancellationRequested)
        {
            logger.LogInformation("Construction run {RunId} cancelled during question {QuestionId}", runId, examQuestionId);
            return;
        }
        catch (LlmCallException exception) when ((context?.GetJobParameter<int>("RetryCount") ?? JobRetries) >= JobRetries)
        {
            await using var db = await dbs.CreateDbContextAsync(CancellationToken.None);
            await PipelineRunProgress.ItemFinishedAsync(db, runId, succeeded: false, CancellationToken.None, $"question {examQuestionId}: {exception.Message}");
            logger.LogWarning(exception, "Construction run {RunId}: question {QuestionId} failed permanently", runId, examQuestionId);
            return;
        }

        await using (var db = await dbs.CreateDbContextAsync(ct))
        {
            var strategy = db.Database.CreateExecutionStrategy();
            await strategy.ExecuteAsync(async () =>
            {
                await using var transaction = await db.Database.BeginTransactionAsync(ct);
                db.VerifiableProblems.Add(ToProblem(question, result));
                try
                {
                    await db.SaveChangesAsync(ct);
                }
                catch (DbUpdateException exception) when (exception.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
                {
                    // Another delivery of this item wrote the problem first and counted it.
                    await transaction.RollbackAsync(ct);
                    return;
                }
                // A filter's rejection is an outcome of the item; only unusable LLM output is a failure.
                var failed = result.Status == ConstructionStatus.Failed;
                await PipelineRunProgress.ItemFinishedAsync(db, runId, !failed, ct, failed ? $"question {examQuestionId}: {result.RejectReason}" : null);
                await transaction.CommitAsync(ct);
            });
        }
    }

    public static VerifiableProblem ToProblem(ExamQuestion question, ConstructionResult result)
    {
        var exchanges = new List<StageExchange>();
        foreach (var check in result.DifficultyChecks)
            exchanges.Add(new StageExchange { Stage = $"difficulty:{check.Model}", Prompt = check.Prompt, RawAnswer = check.RawOutput });
        if (result.FilterPrompt is not null)
            exchanges.Add(new StageExchange { Stage = "llm-filter", Prompt = result.FilterPrompt, RawAnswer = string.Join("\n\n--- repair ---\n\n", result.FilterRawOutputs) });
        if (result.RewritePrompt is not null)
            exchanges.Add(new StageExchange { Stage = "reformulate", Prompt = result.RewritePrompt, RawAnswer = string.Join("\n\n--- repair ---\n\n", result.RewriteRawOutputs) });
        if (result.RejectReason is not null)
            exchanges.Add(new StageExchange { Stage = result.Status == ConstructionStatus.Failed ? "failed" : "rejected", Prompt = "", RawAnswer = result.RejectReason });
        return new VerifiableProblem
        {
            DatasetId = question.DatasetId,
            ExamQuestionId = question.Id,
            OpenEndedQuestion = result.OpenEndedQuestion ?? "",
            GroundTruthAnswer = result.GroundTruthAnswer ?? "",
            Status = result.Status == ConstructionStatus.Accepted ? ProblemStatus.Accepted : ProblemStatus.Rejected,
            DifficultyResults = result.DifficultyChecks.Select(c => new DifficultyFilterResult { Model = c.Model, Answer = c.Chosen, Correct = c.Correct }).ToList(),
            LlmFilterVerdict = result.Verdict switch
            {
                FilterVerdict.Pass => Data.Entities.LlmFilterVerdict.Pass,
                FilterVerdict.TooSimple => Data.Entities.LlmFilterVerdict.TooSimple,
                FilterVerdict.AmbiguousAnswer => Data.Entities.LlmFilterVerdict.AmbiguousAnswer,
                FilterVerdict.NotReformulatable => Data.Entities.LlmFilterVerdict.NotReformulatable,
                _ => null,
            },
            StageExchanges = exchanges,
            // One problem per exam question per dataset: the unique (DatasetId, ContentSha256) index makes writing it idempotent.
            ContentSha256 = question.ContentSha256,
        };
    }
}
