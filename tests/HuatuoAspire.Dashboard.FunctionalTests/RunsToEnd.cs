using System.Net.Http.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>Waiting for a run to leave Queued and Running, read as its clients read it.</summary>
public static class RunsToEnd
{
    /// <summary>The evaluation run from the workers' API once it has ended.</summary>
    public static Task<JsonObject> EvaluationAsync(HttpClient client, long id, TimeSpan timeout) =>
        Eventually.ReachesAsync(async () => (await client.GetFromJsonAsync<JsonObject>($"/api/evaluation-runs/{id}"))!,
            run => run["status"]!.GetValue<string>() is not ("Queued" or "Running"), timeout, $"evaluation run {id} to end",
            TimeSpan.FromMilliseconds(300));

    /// <summary>The training run from the database once it has ended (at most 3 minutes).</summary>
    public static Task<TrainingRun> TrainingAsync(HuatuoDbContext db, long id) =>
        Eventually.ReachesAsync(() => db.TrainingRuns.AsNoTracking().SingleAsync(r => r.Id == id),
            run => run.Status is not (RunStatus.Queued or RunStatus.Running), TimeSpan.FromMinutes(3), $"training run {id} to end",
            TimeSpan.FromMilliseconds(300));

    /// <summary>The pipeline run from the database once it has stopped running.</summary>
    public static Task<PipelineRun> PipelineAsync(HuatuoDbContext db, long id, TimeSpan timeout) =>
        Eventually.ReachesAsync(() => db.PipelineRuns.AsNoTracking().SingleAsync(r => r.Id == id),
            run => run.Status != RunStatus.Running, timeout, $"pipeline run {id} to stop running", TimeSpan.FromMilliseconds(300));
}
