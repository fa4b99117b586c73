using System.Globalization;
using System.Text.Json;
using Hangfire.Common;
using Hangfire.Storage;

namespace HuatuoAspire.Data.Jobs;

/// <summary>
/// A job of a pipeline run: an item job, whose arguments start with (runId, itemId), or a job that works off a whole
/// run (an evaluation: runId first; <see cref="ItemId"/> is null). Read from the job when its type is loaded, else
/// from the stored invocation (the dashboard on its own does not load the workers' job types).
/// </summary>
public sealed record PipelineRunItemJob(long RunId, long? ItemId, string Item)
{
    // The workers' item jobs and what their item is; names, not types, as this project must not reference the workers.
    private static readonly Dictionary<(string Type, string Method), string> ItemJobs = new()
    {
        [("HuatuoAspire.Workers.Jobs.ConstructionJobs", "ConstructQuestionAsync")] = "question",
        [("HuatuoAspire.Workers.Jobs.SearchJobs", "SearchProblemAsync")] = "problem",
        [("HuatuoAspire.Workers.Jobs.EvaluationJobs", "EvaluateAsync")] = "",
    };

    /// <summary>Set on an item job once the job's end (failed for good, deleted) was counted in its run.</summary>
    public const string CountedParameter = "HuatuoRunItemCounted";

    public static PipelineRunItemJob? From(Job? job, InvocationData? data)
    {
        string? type, method;
        IReadOnlyList<string?> args;
        if (job is not null)
        {
            (type, method) = (job.Type.FullName, job.Method.Name);
            args = job.Args.Select(a => Convert.ToString(a, CultureInfo.InvariantCulture)).ToList();
        }
        else if (data is not null)
        {
            (type, method) = (data.Type?.Split(',')[0].Trim(), data.Method);
            args = JsonSerializer.Deserialize<List<string?>>(data.Arguments ?? "[]") ?? [];
        }
        else return null;
        if (type is null || method is null || !ItemJobs.TryGetValue((type, method), out var item) || args.Count == 0) return null;
        if (!long.TryParse(args[0], CultureInfo.InvariantCulture, out var runId)) return null;
        if (item.Length == 0) return new PipelineRunItemJob(runId, null, "run");
        return args.Count > 1 && long.TryParse(args[1], CultureInfo.InvariantCulture, out var itemId) ? new PipelineRunItemJob(runId, itemId, item) : null;
    }
}
