using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>One recorded value of a figure at an optimizer step.</summary>
public sealed record MetricPoint(int Step, double Value);

/// <summary>What is new for a run since the last read: its status and the metric rows written after <see cref="LastId"/>.</summary>
public sealed record TrainingMetricsUpdate(RunStatus Status, long LastId, IReadOnlyList<(string Name, MetricPoint Point)> Points)
{
    public bool Active => Status is RunStatus.Queued or RunStatus.Running;
}

/// <summary>
/// Reads the metrics the trainer writes to PostgreSQL after every optimizer step, incrementally: a live chart asks for
/// the rows after the last one it has (row ids grow as one trainer writes a run), so each poll reads only new points.
/// </summary>
public sealed class TrainingMetricsReader(IDbContextFactory<HuatuoDbContext> dbs)
{
    public async Task<TrainingMetricsUpdate?> ReadAsync(long runId, long afterId, CancellationToken ct)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        var status = await db.TrainingRuns.Where(r => r.Id == runId).Select(r => (RunStatus?)r.Status).SingleOrDefaultAsync(ct);
        if (status is null) return null;
        var rows = await db.TrainingMetrics.AsNoTracking().Where(m => m.TrainingRunId == runId && m.Id > afterId)
            .OrderBy(m => m.Id).Select(m => new { m.Id, m.Name, m.Step, m.Value }).ToListAsync(ct);
        return new TrainingMetricsUpdate(status.Value, rows.Count > 0 ? rows[^1].Id : afterId,
            rows.Select(r => (r.Name, new MetricPoint(r.Step, r.Value))).ToList());
    }
}
