using System.Diagnostics.Metrics;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Training;
using HuatuoAspire.Training.Observability;
using HuatuoAspire.Training.Ppo;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Trainer.Jobs;

/// <summary>
/// What happens after every optimizer step of a run, on the training thread: its figures go to PostgreSQL and to
/// the run-tagged instruments, and a cancellation asked for in the database stops the run.
/// </summary>
public sealed class TrainingStepRecorder(IDbContextFactory<HuatuoDbContext> contexts, long runId, string stage, CancellationTokenSource cancel)
{
    // Every per-step figure is also a gauge huatuo.training.{name} (TrainingMetricsLog); these add the run's id.
    private static readonly Meter Meter = new(TrainingMetricsLog.MeterName);
    private static readonly Counter<long> StepCounter = Meter.CreateCounter<long>("huatuo.training.steps");
    private static readonly Histogram<double> RunFigures = Meter.CreateHistogram<double>("huatuo.training.run_figure");

    public void Record(TrainingProgress progress)
    {
        using var db = contexts.CreateDbContext();
        var run = new KeyValuePair<string, object?>("run", runId);
        var kind = new KeyValuePair<string, object?>("stage", stage);
        foreach (var (name, value) in progress.Figures)
        {
            if (!double.IsFinite(value)) continue;
            db.TrainingMetrics.Add(new TrainingMetric { TrainingRunId = runId, Step = progress.Step, Name = name, Value = value });
            RunFigures.Record(value, run, kind, new KeyValuePair<string, object?>("figure", name));
        }
        db.SaveChanges();
        StepCounter.Add(1, run, kind);

        if (db.TrainingRuns.Where(r => r.Id == runId).Select(r => r.CancellationRequested).First()) cancel.Cancel();
    }

    /// <summary>The final policy's figures on the held-out prompts, as <c>eval_*</c> metrics of the last step.</summary>
    public async Task RecordHeldOutAsync(int lastStep, PolicyScore score)
    {
        await using var db = await contexts.CreateDbContextAsync();
        foreach (var (name, value) in new[] { ("eval_reward", score.MeanReward), ("eval_accuracy", score.Accuracy), ("eval_well_formed", score.WellFormed) })
            db.TrainingMetrics.Add(new TrainingMetric { TrainingRunId = runId, Step = lastStep, Name = name, Value = value });
        await db.SaveChangesAsync();
    }
}
