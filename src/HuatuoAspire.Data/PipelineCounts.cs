using HuatuoAspire.Data.Entities;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Data;

/// <summary>How much data sits at each pipeline stage: what `huatuo status` and the dashboard show.</summary>
public sealed record PipelineCounts(
    int Datasets,
    int ImportRuns,
    int ExamQuestions,
    IReadOnlyDictionary<ProblemStatus, int> ProblemsByStatus,
    IReadOnlyDictionary<TrajectoryStatus, int> TrajectoriesByStatus,
    int SftRecords,
    int PipelineRuns,
    int TrainingRuns,
    int Checkpoints,
    int EvaluationRuns)
{
    public int Problems => ProblemsByStatus.Values.Sum();

    public static async Task<PipelineCounts> ReadAsync(HuatuoDbContext db, CancellationToken ct = default)
    {
        var problems = await db.VerifiableProblems.GroupBy(p => p.Status).Select(g => new { g.Key, Count = g.Count() }).ToListAsync(ct);
        var trajectories = await db.ReasoningTrajectories.GroupBy(t => t.Status).Select(g => new { g.Key, Count = g.Count() }).ToListAsync(ct);
        var sft = await db.ReasoningTrajectories.CountAsync(t => (t.Status == TrajectoryStatus.Succeeded || t.Status == TrajectoryStatus.Imported)
                                                                && t.ComplexCot != null && t.Response != null, ct);
        return new PipelineCounts(
            await db.Datasets.CountAsync(ct),
            await db.ImportRuns.CountAsync(ct),
            await db.ExamQuestions.CountAsync(ct),
            Enum.GetValues<ProblemStatus>().ToDictionary(s => s, s => problems.FirstOrDefault(p => p.Key == s)?.Count ?? 0),
            Enum.GetValues<TrajectoryStatus>().ToDictionary(s => s, s => trajectories.FirstOrDefault(t => t.Key == s)?.Count ?? 0),
            sft,
            await db.PipelineRuns.CountAsync(ct),
            await db.TrainingRuns.CountAsync(ct),
            await db.Checkpoints.CountAsync(ct),
            await db.EvaluationRuns.CountAsync(ct));
    }
}
