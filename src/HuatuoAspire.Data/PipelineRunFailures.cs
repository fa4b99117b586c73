using HuatuoAspire.Data.Entities;
using HuatuoAspire.Domain.Search;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Data;

/// <summary>
/// One item of a pipeline run that failed for good, as the workers stored it: a construction that stayed unusable
/// (a problem with a "failed" stage), a search without a usable trajectory (a Failed trajectory) or an evaluation
/// question without an answer (a result with an error).
/// </summary>
/// <param name="Reason">The stored reason, or for a search the one its stored steps show.</param>
/// <param name="Output">The last raw LLM output behind the failure, when one was stored.</param>
/// <param name="Attempts">LLM tries of the failing stage (construction) or search attempts; null when not stored.</param>
/// <param name="Links">(href, text) of the pages that show the item.</param>
public sealed record FailedItem(string Item, string Reason, string? Output, int? Attempts, DateTime? At, IReadOnlyList<(string Href, string Text)> Links);

public static class PipelineRunFailures
{
    private const string Repair = "\n\n--- repair ---\n\n";

    /// <summary>
    /// The run's items that failed for good (at most <paramref name="limit"/>, newest first) and how many there are.
    /// Problems and trajectories carry no run id: they belong to the run of their kind that was started last before
    /// they were written, as runs of one kind never overlap (the item jobs' counters rely on that too).
    /// </summary>
    public static async Task<(int Count, IReadOnlyList<FailedItem> Items)> ReadAsync(HuatuoDbContext db, PipelineRun run, int limit, CancellationToken ct = default)
    {
        var from = run.StartedAt ?? run.CreatedAt;
        var until = await db.PipelineRuns.Where(r => r.Kind == run.Kind && r.Id > run.Id).OrderBy(r => r.Id)
            .Select(r => (DateTime?)r.CreatedAt).FirstOrDefaultAsync(ct);
        switch (run.Kind)
        {
            case PipelineRunKind.Construction:
            {
                // A rejection by a filter is an outcome, not a failure: only the "failed" stage (LLM output unusable after its repair).
                var problems = db.VerifiableProblems.AsNoTracking()
                    .Where(p => p.ExamQuestionId != null && p.CreatedAt >= from && p.StageExchanges.Any(e => e.Stage == "failed"));
                if (until is { } end) problems = problems.Where(p => p.CreatedAt < end);
                var count = await problems.CountAsync(ct);
                var rows = await problems.OrderByDescending(p => p.Id).Take(limit)
                    .Select(p => new { p.Id, p.ExamQuestionId, p.CreatedAt, p.StageExchanges }).ToListAsync(ct);
                return (count, rows.Select(p =>
                {
                    var failed = p.StageExchanges.Last(e => e.Stage == "failed");
                    var stage = p.StageExchanges.LastOrDefault(e => e.Stage != "failed");
                    return new FailedItem($"question {p.ExamQuestionId}", failed.RawAnswer, stage?.RawAnswer,
                        stage?.RawAnswer.Split(Repair).Length, p.CreatedAt, [($"/problems/{p.Id}", $"problem {p.Id}")]);
                }).ToList());
            }
            case PipelineRunKind.Search:
            {
                var trajectories = db.ReasoningTrajectories.AsNoTracking()
                    .Where(t => t.Status == TrajectoryStatus.Failed && t.ProblemId != null && t.CreatedAt >= from);
                if (until is { } end) trajectories = trajectories.Where(t => t.CreatedAt < end);
                var count = await trajectories.CountAsync(ct);
                var rows = await trajectories.OrderByDescending(t => t.Id).Take(limit)
                    .Select(t => new { t.Id, t.ProblemId, t.CreatedAt, Attempts = t.Attempts.Count }).ToListAsync(ct);
                var ids = rows.Select(t => t.Id).ToList();
                var steps = (await db.SearchSteps.AsNoTracking().Where(s => ids.Contains(s.Attempt!.TrajectoryId))
                        .Select(s => new { s.Attempt!.TrajectoryId, s.Attempt.AttemptIndex, s.StepIndex, s.Strategy, s.Verdict, s.RawOutput }).ToListAsync(ct))
                    .ToLookup(s => s.TrajectoryId);
                return (count, rows.Select(t =>
                {
                    // The search's own failure reason is not stored; its last step tells which way it ended.
                    var last = steps[t.Id].OrderBy(s => s.AttemptIndex).ThenBy(s => s.StepIndex).LastOrDefault();
                    var reason = last switch
                    {
                        null => "no reasoning step was stored",
                        { Verdict: VerifierVerdict.Unparseable } => $"malformed output after a repair retry (attempt {last.AttemptIndex}, {last.Strategy})",
                        { Verdict: VerifierVerdict.Correct } or { Strategy: SearchStrategy.Correction, Verdict: null } =>
                            "the reasoning could not be rewritten into Complex_CoT and Response",
                        _ => $"no verified conclusion after {t.Attempts} attempt(s) (last verdict: {last.Verdict?.ToString() ?? "none"})",
                    };
                    return new FailedItem($"problem {t.ProblemId}", reason, last?.RawOutput, t.Attempts, t.CreatedAt,
                        [($"/problems/{t.ProblemId}", $"problem {t.ProblemId}"), ($"/trajectories/{t.Id}", $"trajectory {t.Id}")]);
                }).ToList());
            }
            case PipelineRunKind.Evaluation:
            {
                // The endpoint's retries are not counted and a result has no time of its own.
                var results = db.EvaluationResults.AsNoTracking().Where(r => r.EvaluationRun!.PipelineRunId == run.Id && r.Error != null);
                var count = await results.CountAsync(ct);
                var rows = await results.OrderByDescending(r => r.Id).Take(limit)
                    .Select(r => new { r.EvaluationRun!.Benchmark, r.QuestionKey, r.Error, r.Output }).ToListAsync(ct);
                return (count, rows.Select(r => new FailedItem($"{r.Benchmark} #{r.QuestionKey}", r.Error!, r.Output.Length == 0 ? null : r.Output, null, null,
                    [($"/evaluations/{run.Id}?benchmark={Uri.EscapeDataString(r.Benchmark)}", r.Benchmark)])).ToList());
            }
            default:
                return (0, []);
        }
    }
}
