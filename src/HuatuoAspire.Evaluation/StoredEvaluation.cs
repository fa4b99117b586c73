using HuatuoAspire.Data;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Evaluation;

/// <summary>Scores of an evaluation job from its stored rows (the same report as <c>huatuo eval</c>), for the API, its report and the dashboard alike.</summary>
public static class StoredEvaluation
{
    /// <summary>Per benchmark of the evaluation job <paramref name="pipelineRunId"/>; questions not answered yet are not counted.</summary>
    public static async Task<IReadOnlyList<BenchmarkScore>> ScoresAsync(HuatuoDbContext db, long pipelineRunId, CancellationToken ct = default)
    {
        var rows = await db.EvaluationResults.AsNoTracking().Where(r => r.EvaluationRun!.PipelineRunId == pipelineRunId)
            .OrderBy(r => r.EvaluationRunId)
            .Select(r => new { r.EvaluationRun!.Benchmark, r.Correct, r.ExtractedLetter, r.ExtractionRule, r.Error, r.Output, r.Options, r.AnswerIdx })
            .ToListAsync(ct);
        // jsonb keeps no key order: options are read in label order, as the job asked them.
        return EvaluationReport.Score(rows.Select(r => new ScoredAnswer(r.Benchmark, r.Correct, r.ExtractedLetter, AnswerExtractor.ParseRule(r.ExtractionRule),
            r.Error is not null, r.Output, r.Options.OrderBy(o => o.Key, StringComparer.Ordinal).ToList(), r.AnswerIdx)));
    }
}
