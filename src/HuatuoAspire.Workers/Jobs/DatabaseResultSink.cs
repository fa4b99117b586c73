using System.Globalization;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Evaluation;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Workers.Jobs;

/// <summary>
/// Evaluation results as EvaluationRun (one per benchmark) and EvaluationResult rows, with the extraction rule and,
/// for a question the endpoint could not answer, the error. <see cref="OpenAsync"/> resumes the newest unfinished run
/// of each benchmark for the model; <see cref="OpenForRunAsync"/> keeps the benchmarks of one evaluation job (a
/// parent PipelineRun, whose progress counters it keeps). Either way a re-run asks only what is missing or failed.
/// </summary>
public sealed class DatabaseResultSink : IEvaluationResultSink
{
    private readonly IDbContextFactory<HuatuoDbContext> _factory;
    private readonly IReadOnlyDictionary<string, long> _runIds;
    private readonly long? _pipelineRunId;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private DatabaseResultSink(IDbContextFactory<HuatuoDbContext> factory, IReadOnlyDictionary<string, long> runIds, IReadOnlyList<QuestionResult> existing, long? pipelineRunId)
    {
        _factory = factory;
        _runIds = runIds;
        _pipelineRunId = pipelineRunId;
        Existing = existing;
    }

    public IReadOnlyList<QuestionResult> Existing { get; }

    /// <summary>The run id of each benchmark.</summary>
    public IReadOnlyDictionary<string, long> RunIds => _runIds;

    public static Task<DatabaseResultSink> OpenAsync(IDbContextFactory<HuatuoDbContext> factory, string model,
        IEnumerable<string> benchmarks, CancellationToken cancellationToken) =>
        OpenAsync(factory, model, benchmarks, pipelineRunId: null, cancellationToken);

    /// <summary>The benchmarks of the evaluation job <paramref name="pipelineRunId"/> (created on first use).</summary>
    public static Task<DatabaseResultSink> OpenForRunAsync(IDbContextFactory<HuatuoDbContext> factory, long pipelineRunId, string model,
        IEnumerable<string> benchmarks, CancellationToken cancellationToken) =>
        OpenAsync(factory, model, benchmarks, pipelineRunId, cancellationToken);

    private static async Task<DatabaseResultSink> OpenAsync(IDbContextFactory<HuatuoDbContext> factory, string model,
        IEnumerable<string> benchmarks, long? pipelineRunId, CancellationToken cancellationToken)
    {
        await using var db = await factory.CreateDbContextAsync(cancellationToken);
        var runIds = new Dictionary<string, long>(StringComparer.Ordinal);
        var existing = new List<QuestionResult>();
        foreach (var benchmark in benchmarks.Distinct())
        {
            var runs = db.EvaluationRuns.Include(r => r.Results).Where(r => r.Benchmark == benchmark);
            runs = pipelineRunId is { } parent
                ? runs.Where(r => r.PipelineRunId == parent)
                : runs.Where(r => r.PipelineRunId == null && r.Model == model && r.Status != RunStatus.Succeeded);
            var run = await runs.OrderByDescending(r => r.Id).FirstOrDefaultAsync(cancellationToken);
            if (run is null)
            {
                run = new EvaluationRun { Benchmark = benchmark, Model = model, Status = RunStatus.Running, PipelineRunId = pipelineRunId };
                db.EvaluationRuns.Add(run);
                await db.SaveChangesAsync(cancellationToken);
            }
            else if (run.Status != RunStatus.Running)
            {
                run.Status = RunStatus.Running;
                run.FinishedAt = null;
                await db.SaveChangesAsync(cancellationToken);
            }
            runIds[benchmark] = run.Id;
            foreach (var row in run.Results)
            {
                // Rows written before the rule was stored: extraction is deterministic, so it is derived again.
                var rule = row.ExtractionRule is null
                    ? AnswerExtractor.Extract(row.Output, row.Options.OrderBy(o => o.Key, StringComparer.Ordinal).ToList()).Rule
                    : AnswerExtractor.ParseRule(row.ExtractionRule);
                existing.Add(new QuestionResult(benchmark, int.Parse(row.QuestionKey, CultureInfo.InvariantCulture), row.Question, row.Options,
                    row.AnswerIdx, row.Prompt, row.Error is null ? row.Output : null, row.ExtractedLetter, rule, row.Correct, row.Error));
            }
        }
        return new DatabaseResultSink(factory, runIds, existing, pipelineRunId);
    }

    public async Task WriteAsync(QuestionResult result, CancellationToken cancellationToken)
    {
        if (!_runIds.TryGetValue(result.Benchmark, out var runId))
            throw new InvalidOperationException($"benchmark '{result.Benchmark}' was not named when the sink was opened");
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var db = await _factory.CreateDbContextAsync(cancellationToken);
            var key = result.Index.ToString(CultureInfo.InvariantCulture);
            var row = await db.EvaluationResults.SingleOrDefaultAsync(r => r.EvaluationRunId == runId && r.QuestionKey == key, cancellationToken);
            if (row is null)
            {
                row = new EvaluationResult
                {
                    EvaluationRunId = runId, QuestionKey = key, Question = result.Question, Options = new(result.Options),
                    AnswerIdx = result.AnswerIdx, Prompt = result.Prompt, Output = result.Output ?? "",
                };
                db.EvaluationResults.Add(row);
            }
            row.Prompt = result.Prompt;
            row.Output = result.Output ?? "";
            row.ExtractedLetter = result.Extracted;
            row.ExtractionRule = result.Rule.ToString();
            row.Correct = result.Correct;
            row.Error = result.Error;
            await db.SaveChangesAsync(cancellationToken);
            await UpdateCountsAsync(db, runId, finish: null, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Marks every run finished, with its final counts.</summary>
    public Task CompleteAsync(CancellationToken cancellationToken) => FinishAsync(RunStatus.Succeeded, cancellationToken);

    /// <summary>Marks every run <paramref name="status"/> (Succeeded or Cancelled), with its final counts.</summary>
    public async Task FinishAsync(RunStatus status, CancellationToken cancellationToken)
    {
        await using var db = await _factory.CreateDbContextAsync(cancellationToken);
        foreach (var runId in _runIds.Values) await UpdateCountsAsync(db, runId, status, cancellationToken);
    }

    private async Task UpdateCountsAsync(HuatuoDbContext db, long runId, RunStatus? finish, CancellationToken cancellationToken)
    {
        var run = await db.EvaluationRuns.SingleAsync(r => r.Id == runId, cancellationToken);
        run.Total = await db.EvaluationResults.CountAsync(r => r.EvaluationRunId == runId, cancellationToken);
        run.Correct = await db.EvaluationResults.CountAsync(r => r.EvaluationRunId == runId && r.Correct, cancellationToken);
        if (finish is { } status)
        {
            run.Status = status;
            run.FinishedAt = DateTime.UtcNow;
        }
        await db.SaveChangesAsync(cancellationToken);
        if (_pipelineRunId is { } parent) await UpdateParentCountsAsync(db, parent, cancellationToken);
    }

    /// <summary>
    /// The parent's counters from the rows themselves, in one statement: a re-run that answers a failed question
    /// again moves it from failed to succeeded instead of counting it twice.
    /// </summary>
    public static Task UpdateParentCountsAsync(HuatuoDbContext db, long pipelineRunId, CancellationToken cancellationToken) =>
        db.PipelineRuns.Where(p => p.Id == pipelineRunId).ExecuteUpdateAsync(set => set
            .SetProperty(p => p.ItemsDone, p => db.EvaluationResults.Count(r => r.EvaluationRun!.PipelineRunId == pipelineRunId))
            .SetProperty(p => p.ItemsSucceeded, p => db.EvaluationResults.Count(r => r.EvaluationRun!.PipelineRunId == pipelineRunId && r.Error == null))
            .SetProperty(p => p.ItemsFailed, p => db.EvaluationResults.Count(r => r.EvaluationRun!.PipelineRunId == pipelineRunId && r.Error != null)),
            cancellationToken);
}
