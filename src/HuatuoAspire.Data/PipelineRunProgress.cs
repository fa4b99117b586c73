using HuatuoAspire.Data.Entities;
using HuatuoAspire.Data.Text;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Data;

/// <summary>
/// Progress counters of a parent run, updated with single SQL statements so that concurrent item jobs on any number
/// of worker processes never lose an increment; the item that brings ItemsDone to ItemsTotal closes the run with a
/// status that says what happened (Succeeded, CompletedWithFailures, Failed).
/// </summary>
public static class PipelineRunProgress
{
    /// <summary>
    /// Counts one finished item. <paramref name="failure"/> (a failed item's reason, e.g. "question 12: …") becomes
    /// the run's Error, so a run whose items failed shows the latest reason on its page, not only in the log.
    /// </summary>
    public static async Task ItemFinishedAsync(HuatuoDbContext db, long runId, bool succeeded, CancellationToken ct, string? failure = null)
    {
        var error = failure is null ? null : Shorten(StorableText.Clean(failure));
        await db.PipelineRuns.Where(r => r.Id == runId).ExecuteUpdateAsync(set => set
            .SetProperty(r => r.ItemsDone, r => r.ItemsDone + 1)
            .SetProperty(r => r.ItemsSucceeded, r => r.ItemsSucceeded + (succeeded ? 1 : 0))
            .SetProperty(r => r.ItemsFailed, r => r.ItemsFailed + (succeeded ? 0 : 1))
            .SetProperty(r => r.Error, r => error ?? r.Error), ct);
        await CloseIfDoneAsync(db, runId, ct);
    }

    /// <summary>Closes a running run whose every item has ended, with the status its counters call for.</summary>
    public static Task<int> CloseIfDoneAsync(HuatuoDbContext db, long runId, CancellationToken ct) =>
        CloseAsync(db.PipelineRuns.Where(r => r.Id == runId && r.Status == RunStatus.Running && r.ItemsDone >= r.ItemsTotal), ct);

    /// <summary>Closes a running run now (its job has gone through every item), with the status its counters call for.</summary>
    public static Task<int> CloseAsync(HuatuoDbContext db, long runId, CancellationToken ct) =>
        CloseAsync(db.PipelineRuns.Where(r => r.Id == runId && r.Status == RunStatus.Running), ct);

    /// <summary>Ends a queued or running run as Failed with <paramref name="reason"/> (its job itself failed or was deleted).</summary>
    public static Task<int> FailAsync(HuatuoDbContext db, long runId, string reason, CancellationToken ct)
    {
        var error = Shorten(StorableText.Clean(reason));
        return db.PipelineRuns.Where(r => r.Id == runId && (r.Status == RunStatus.Running || r.Status == RunStatus.Queued))
            .ExecuteUpdateAsync(set => set.SetProperty(r => r.Status, RunStatus.Failed).SetProperty(r => r.Error, error)
                .SetProperty(r => r.FinishedAt, DateTime.UtcNow), ct);
    }

    private static Task<int> CloseAsync(IQueryable<PipelineRun> runs, CancellationToken ct) =>
        runs.ExecuteUpdateAsync(set => set
                .SetProperty(r => r.Status, r => r.ItemsFailed == 0 ? RunStatus.Succeeded
                    : r.ItemsSucceeded == 0 ? RunStatus.Failed
                    : RunStatus.CompletedWithFailures)
                .SetProperty(r => r.Error, r => r.ItemsFailed == 0 ? r.Error
                    : r.ItemsSucceeded == 0 ? "All " + r.ItemsFailed + " items failed; the latest reason: " + (r.Error ?? "none recorded (see the failed items)")
                    : r.ItemsFailed + " of " + r.ItemsTotal + " items failed; the latest reason: " + (r.Error ?? "none recorded (see the failed items)"))
                .SetProperty(r => r.FinishedAt, DateTime.UtcNow), ct);

    private static string Shorten(string text) => text.Length <= 2000 ? text : text[..1999] + "…";

    /// <summary>
    /// Creates a parent run over <paramref name="itemIds"/> (no other run of its kind may be active) and returns it;
    /// a run with nothing to do is finished at once as NothingToDo, with <paramref name="nothingToDoReason"/>.
    /// </summary>
    public static async Task<PipelineRun> CreateRunAsync(HuatuoDbContext db, PipelineRunKind kind, string parameters,
        IReadOnlyCollection<long> itemIds, string nothingToDoReason, CancellationToken ct)
    {
        var empty = itemIds.Count == 0;
        var run = new PipelineRun
        {
            Kind = kind,
            Parameters = parameters,
            Status = empty ? RunStatus.NothingToDo : RunStatus.Running,
            Error = empty ? nothingToDoReason : null,
            ItemsTotal = itemIds.Count,
            StartedAt = DateTime.UtcNow,
            FinishedAt = empty ? DateTime.UtcNow : null,
        };
        db.PipelineRuns.Add(run);
        await db.SaveChangesAsync(ct);
        return run;
    }

    /// <summary>
    /// Runs of one kind never overlap: an item job that finds its item already done is then always a repeated
    /// delivery of its own run, which keeps the counters exact without a row per item.
    /// </summary>
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
