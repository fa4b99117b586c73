using System.Diagnostics;
using Hangfire.Client;
using Hangfire.Server;

namespace HuatuoAspire.Data.Jobs;

/// <summary>
/// One trace span per Hangfire job execution (source <c>HuatuoAspire.Jobs</c>), so a search item shows as one trace
/// in the Aspire dashboard: the job, its Semantic Kernel call, and the inference service answering it. The job keeps
/// the trace context of whatever enqueued it (the API request that started a run) as a link, not as its parent: a run
/// of thousands of items would otherwise be one endless trace.
/// </summary>
public sealed class JobActivityFilter : IClientFilter, IServerFilter
{
    public const string ActivitySourceName = "HuatuoAspire.Jobs";
    /// <summary>The tag naming the run a job works for, so the dashboard can link to one run's traces.</summary>
    public const string RunIdTag = "huatuo.run.id";
    private static readonly ActivitySource Source = new(ActivitySourceName);
    private const string TraceParent = "TraceParent";
    private const string ActivityKey = "HuatuoAspire.Activity";

    public void OnCreating(CreatingContext context)
    {
        if (Activity.Current?.Id is { } id) context.SetJobParameter(TraceParent, id);
    }

    public void OnCreated(CreatedContext context) { }

    public void OnPerforming(PerformingContext context)
    {
        var job = context.BackgroundJob.Job;
        var links = context.GetJobParameter<string>(TraceParent) is { } parent && ActivityContext.TryParse(parent, null, out var origin)
            ? [new ActivityLink(origin)]
            : Array.Empty<ActivityLink>();
        var activity = Source.StartActivity($"job {job.Type.Name}.{job.Method.Name}", ActivityKind.Consumer, default(ActivityContext), links: links);
        if (activity is null) return;
        activity.SetTag("hangfire.job.id", context.BackgroundJob.Id);
        activity.SetTag("hangfire.job.arguments", string.Join(", ", job.Args.Where(a => a is not null and not CancellationToken)));
        // Every job of a run (pipeline, evaluation, training) takes the run's id first, as runId.
        if (job.Method.GetParameters() is [{ Name: "runId" }, ..] && job.Args[0] is long runId) activity.SetTag(RunIdTag, runId);
        context.Items[ActivityKey] = activity;
    }

    public void OnPerformed(PerformedContext context)
    {
        if (!context.Items.TryGetValue(ActivityKey, out var item) || item is not Activity activity) return;
        if (context.Exception is { } exception && !context.ExceptionHandled)
        {
            activity.SetStatus(ActivityStatusCode.Error, exception.Message);
            activity.AddException(exception);
        }
        activity.Dispose();
    }
}
