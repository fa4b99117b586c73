using System.CommandLine;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using Microsoft.EntityFrameworkCore;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

public static class StatusCommand
{
    public static Command Create()
    {
        var command = new Command("status", "Show how much data sits at each pipeline stage, and the latest imports.");
        DataConnection.AddOptions(command);
        command.SetAction(async (parse, ct) =>
        {
            return await DataConnection.RunAsync(parse, ct, async data =>
            {
                await data.EnsureMigratedAsync(ct);
                await using var db = await data.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync(ct);
                var counts = await PipelineCounts.ReadAsync(db, ct);

                var stages = new Table().Border(TableBorder.Rounded).Title("Pipeline").AddColumn("Stage").AddColumn(new TableColumn("Count").RightAligned());
                stages.AddRow("Datasets", counts.Datasets.ToString());
                stages.AddRow("Exam questions", counts.ExamQuestions.ToString());
                stages.AddRow("Verifiable problems", counts.Problems.ToString());
                foreach (var (status, n) in counts.ProblemsByStatus.Where(kv => kv.Value > 0))
                    stages.AddRow($"  [grey]{status}[/]", n.ToString());
                stages.AddRow("Reasoning trajectories", counts.TrajectoriesByStatus.Values.Sum().ToString());
                foreach (var (status, n) in counts.TrajectoriesByStatus.Where(kv => kv.Value > 0))
                    stages.AddRow($"  [grey]{status}[/]", n.ToString());
                stages.AddRow("SFT records (finished trajectories)", counts.SftRecords.ToString());
                stages.AddRow("Pipeline runs", counts.PipelineRuns.ToString());
                stages.AddRow("Training runs", counts.TrainingRuns.ToString());
                stages.AddRow("Checkpoints", counts.Checkpoints.ToString());
                stages.AddRow("Evaluation runs", counts.EvaluationRuns.ToString());
                AnsiConsole.Write(stages);

                var recent = await db.ImportRuns.AsNoTracking().Include(r => r.Dataset).OrderByDescending(r => r.Id).Take(5).ToListAsync(ct);
                if (recent.Count > 0)
                {
                    var imports = new Table().Border(TableBorder.Rounded).Title("Latest imports")
                        .AddColumns("Run", "Dataset", "File", "Status", "Questions", "Problems", "SFT", "Skipped");
                    foreach (var r in recent)
                    {
                        imports.AddRow(r.Id.ToString(), Markup.Escape(r.Dataset!.Name), Markup.Escape(r.FileName),
                            r.Status is ImportRunStatus.RolledBack or ImportRunStatus.Failed ? $"[red]{r.Status}[/]" : r.Status.ToString(),
                            r.QuestionsImported.ToString(), r.ProblemsImported.ToString(), r.TrajectoriesImported.ToString(),
                            r.RowsSkipped.ToString());
                    }
                    AnsiConsole.Write(imports);
                }
                return 0;
            });
        });
        return command;
    }
}
