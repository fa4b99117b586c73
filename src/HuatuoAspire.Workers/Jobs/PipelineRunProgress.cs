using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Workers.Jobs;

/// <summary>
/// Progress counters of a parent run, updated with single SQL statements so that concurrent item jobs on any number
/// of worker processes never lose an increment; the item that brings ItemsDone to ItemsTotal closes the run.
/// </summary>
public static class PipelineRunProgress
{
    public static async Task ItemFinishedAsync(HuatuoDbContext db, long runId, bool succeeded, CancellationToken ct)
    {
        await db.PipelineRuns.Where(r => r.Id == runId).ExecuteUpdateAsync(set => set
            .SetProperty(r => r.ItemsDone, r => r.ItemsDone + 1)
            .SetProperty(r => r.ItemsSucceeded, r => r.ItemsSucceeded + (succeeded ? 1 : 0))
            .SetProperty(r => r.ItemsFailed, r => r.ItemsFailed + (succeeded ? 0 : 1)), ct);
        await db.PipelineRuns.Where(r => r.Id == runId && r.Status == RunStatus.Running && r.ItemsDone >= r.ItemsTotal)
            .ExecuteUpdateAsync(set => set.SetProperty(r => r.Status, RunStatus.Succeeded).SetProperty(r => r.FinishedAt, DateTime.UtcNow), ct);
    }

    /// <summary>
    /// Runs of one kind never overlap: an item job that finds its item already done is then always a repeated
    /// delivery of its own run, which keeps the counters exact without a row per item.
    /// </summary>
    /// <summary>
    /// Creates a parent run over <paramref name="itemIds"/> (no other run of its kind may be active) and returns it;
    /// a run with nothing to do is finished at once.
    /// </summary>
    public static async Task<PipelineRun> CreateRunAsync(HuatuoDbContext db, PipelineRunKind kind, string parameters,
        IReadOnlyCollection<long> itemIds, CancellationToken ct)
    {
        var run = new PipelineRun
        {
            Kind = kind,
            Parameters = parameters,
            Status = itemIds.Count == 0 ? RunStatus.Succeeded : RunStatus.Running,
            ItemsTotal = itemIds.Count,
            StartedAt = DateTime.UtcNow,
            FinishedAt = itemIds.Count == 0 ? DateTime.UtcNow : null,
        };
        db.PipelineRuns.Add(run);
        await db.SaveChangesAsync(ct);
        return run;
    }

    public static async Task EnsureNoActiveRunAsync(HuatuoDbContext db, PipelineRunKind kind, CancellationToken ct)
    {
        var active = await db.PipelineRuns.Where(r => r.Kind == kind && (r.Status == RunStatus.Running || r.Status == RunStatus.Queued))
            .Select(r => (long?)r.Id).FirstOrDefaultAsync(ct);
        if (active is not null)
            throw new InvalidOperationException($"{kind} run {active} is still running; wait for it to finish or cancel it before starting another.");
    }

    public static Task<int> CancelAsync(HuatuoDbContext db, long runId, CancellationToken ct) =>
        db.PipelineRuns.Where(r => r.Id == runId && (r.Status == RunStatus.Running || r.Status == RunStatus.Queued))
            .ExecuteUpdateAsync(set => set.SetProperty(r => r.CancellationRequested, true)
                .SetProperty(r => r.Status, RunStatus.Cancelled).SetProperty(r => r.FinishedAt, DateTime.UtcNow), ct);

    /// <summary>Cancels the item's work when someone cancels its run (polled; cheap next to an LLM call).</summary>
    public static CancellationTokenSource WatchCancellation(IDbContextFactory<HuatuoDbContext> dbs, long runId, TimeSpan interval, CancellationToken ct)
    {
        var cancellation = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _ = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(interval);
            try
            {
                while (await timer.WaitForNextTickAsync(cancellation.Token))
                {
                    await using var db = await dbs.CreateDbContextAsync(cancellation.Token);
                    if (await db.PipelineRuns.AnyAsync(r => r.Id == runId && r.CancellationRequested, cancellation.Token))
                    {
                        await cancellation.CancelAsync();
                        return;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (ObjectDisposedException)
            {
            }
        }, CancellationToken.None);
        return cancellation;
    }
}
