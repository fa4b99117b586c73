using Hangfire.States;
using Hangfire.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HuatuoAspire.Data.Jobs;

/// <summary>
/// Counts an item job that ends outside its own code: failed for good (out of Hangfire retries on an unexpected
/// exception) or deleted from Hangfire before it finished. Without this, such an item is never counted and its run
/// stays Running for good, blocking every later run of its kind. Each job is counted at most once (a job parameter
/// records it; the item jobs skip a job that carries it when it is requeued by hand).
/// </summary>
public sealed class PipelineRunItemStateFilter(IServiceProvider services, ILogger<PipelineRunItemStateFilter> logger) : IApplyStateFilter
{
    public void OnStateApplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
    {
        var state = context.NewState;
        var ended = state.Name == FailedState.StateName
            || (state.Name == DeletedState.StateName && context.OldStateName != SucceededState.StateName);
        if (!ended) return;
        var jobId = context.BackgroundJob.Id;
        var item = PipelineRunItemJob.From(context.BackgroundJob.Job, context.BackgroundJob.Job is null ? context.Connection.GetJobData(jobId)?.InvocationData : null);
        if (item is null || context.Connection.GetJobParameter(jobId, PipelineRunItemJob.CountedParameter) is not null) return;

        var what = item.ItemId is { } id ? $"{item.Item} {id}: its" : "The run's";
        var reason = state is FailedState { Exception: { } exception }
            ? $"{what} Hangfire job {jobId} failed after its retries: {exception.GetType().Name}: {exception.Message}"
            : $"{what} Hangfire job {jobId} was deleted before it finished";
        try
        {
            var dbs = services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>();
            using var db = dbs.CreateDbContext();
            if (item.ItemId is null) PipelineRunProgress.FailAsync(db, item.RunId, reason, CancellationToken.None).GetAwaiter().GetResult();
            else PipelineRunProgress.ItemFinishedAsync(db, item.RunId, succeeded: false, CancellationToken.None, reason).GetAwaiter().GetResult();
            context.Connection.SetJobParameter(jobId, PipelineRunItemJob.CountedParameter, "true");
            logger.LogWarning("Pipeline run {RunId}: {Reason}", item.RunId, reason);
        }
        catch (Exception e) when (e is InvalidOperationException or DbUpdateException or Npgsql.NpgsqlException)
        {
            logger.LogError(e, "Pipeline run {RunId}: could not count the end of job {JobId}", item.RunId, jobId);
        }
    }

    public void OnStateUnapplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
    {
    }
}
