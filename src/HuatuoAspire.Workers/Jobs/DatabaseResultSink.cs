using System.Globalization;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Evaluation;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Workers.Jobs;

/// <summary>
/// Evaluation results as EvaluationRun (one per benchmark and model) and EvaluationResult rows. Opening it resumes the
/// newest unfinished run of each benchmark for the model, so a re-run asks only what is missing. Failed requests are
/// not stored (the table has no error column): they stay out of <see cref="Existing"/> and are asked again.
/// </summary>
public sealed class DatabaseResultSink : IEvaluationResultSink
{
    private readonly IDbContextFactory<HuatuoDbContext> _factory;
    private readonly IReadOnlyDictionary<string, long> _runIds;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private DatabaseResultSink(IDbContextFactory<HuatuoDbContext> factory, IReadOnlyDictionary<string, long> runIds, IReadOnlyList<QuestionResult> existing)
    {
        _factory = factory;
        _runIds = runIds;
        Existing = existing;
    }

    public IReadOnlyList<QuestionResult> Existing { get; }

    /// <summary>The run id of each benchmark.</summary>
    public IReadOnlyDictionary<string, long> RunIds => _runIds;

    public static async Task<DatabaseResultSink> OpenAsync(IDbContextFactory<HuatuoDbContext> factory, string model,
        IEnumerable<string> benchmarks, CancellationToken cancellationToken)
    {
        await using var db = await factory.CreateDbContextAsync(cancellationToken);
        var runIds = new Dictionary<string, long>(StringComparer.Ordinal);
        var existing = new List<QuestionResult>();
        foreach (var benchmark in benchmarks.Distinct())
        {
            var run = await db.EvaluationRuns.Include(r => r.Results)
                .Where(r => r.Benchmark == benchmark && r.Model == model && r.Status != RunStatus.Succeeded)
                .OrderByDescending(r => r.Id).FirstOrDefaultAsync(cancellationToken);
            if (run is null)
            {
                run = new EvaluationRun { Benchmark = benchmark, Model = model, Status = RunStatus.Running };
                db.EvaluationRuns.Add(run);
                await db.SaveChangesAsync(cancellationToken);
            }
            runIds[benchmark] = run.Id;
            foreach (var row in run.Results)
            {
                // The extraction rule is not stored; extraction is deterministic, so it is derived again from the output.
                var rule = AnswerExtractor.Extract(row.Output, row.Options.OrderBy(o => o.Key, StringComparer.Ordinal).ToList()).Rule;
                existing.Add(new QuestionResult(benchmark, int.Parse(row.QuestionKey, CultureInfo.InvariantCulture), row.Question, row.Options,
                    row.AnswerIdx, row.Prompt, row.Output, row.ExtractedLetter, rule, row.Correct, null));
            }
        }
        return new DatabaseResultSink(factory, runIds, existing);
    }

    public async Task WriteAsync(QuestionResult result, CancellationToken cancellationToken)
    {
        if (result.Error is not null) return;
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
            row.Output = result.Output ?? "";
            row.ExtractedLetter = result.Extracted;
            row.Correct = result.Correct;
            await db.SaveChangesAsync(cancellationToken);
            await UpdateCountsAsync(db, runId, finish: false, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Marks every run finished, with its final counts.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        await using var db = await _factory.CreateDbContextAsync(cancellationToken);
        foreach (var runId in _runIds.Values) await UpdateCountsAsync(db, runId, finish: true, cancellationToken);
    }

    private static async Task UpdateCountsAsync(HuatuoDbContext db, long runId, bool finish, CancellationToken cancellationToken)
    {
        var run = await db.EvaluationRuns.SingleAsync(r => r.Id == runId, cancellationToken);
        run.Total = await db.EvaluationResults.CountAsync(r => r.EvaluationRunId == runId, cancellationToken);
        run.Correct = await db.EvaluationResults.CountAsync(r => r.EvaluationRunId == runId && r.Correct, cancellationToken);
        if (finish)
        {
            run.Status = RunStatus.Succeeded;
            run.FinishedAt = DateTime.UtcNow;
        }
        await db.SaveChangesAsync(cancellationToken);
    }
}
