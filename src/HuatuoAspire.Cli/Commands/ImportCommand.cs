using System.CommandLine;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Data.Import;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

public static class ImportCommand
{
    private const int ErrorsShown = 50;

    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "JSON array or JSON Lines file to import." };
        var format = new Option<string?>("--format")
        {
            Description = "demo (question + verifiable problem + SFT record), medqa, medmcqa, or sft. Default: detected from the first record.",
        };
        format.AcceptOnlyFromAmong("demo", "medqa", "medmcqa", "sft");
        var dataset = new Option<string?>("--dataset") { Description = "Dataset to import into (default: the file name without extension)." };
        var strict = new Option<bool>("--strict") { Description = "Any malformed row rolls back the whole import (exit code 1)." };
        var copBase = new Option<int>("--cop-base")
        {
            Description = "MedMCQA: 0 when cop counts from 0 (Hugging Face export), 1 for the original release files.",
            DefaultValueFactory = _ => 0,
        };
        copBase.AcceptOnlyFromAmong("0", "1");

        var command = new Command("import", "Import exam questions, verifiable problems and SFT records from a reference-format file.")
        {
            file, format, dataset, strict, copBase,
        };
        DataConnection.AddOptions(command);
        command.SetAction(async (parse, ct) =>
        {
            var path = parse.GetValue(file)!;
            if (!path.Exists)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] file not found: {path.FullName}");
                return 2;
            }
            var options = new ImportOptions
            {
                DatasetName = parse.GetValue(dataset),
                Format = parse.GetValue(format) switch
                {
                    "demo" => ImportFormat.Demo,
                    "medqa" => ImportFormat.MedQa,
                    "medmcqa" => ImportFormat.MedMcqa,
                    "sft" => ImportFormat.Sft,
                    _ => null,
                },
                Strict = parse.GetValue(strict),
                CopBase = parse.GetValue(copBase) == 1 ? CopBase.One : CopBase.Zero,
            };

            return await DataConnection.RunAsync(parse, ct, async data =>
            {
                await data.EnsureMigratedAsync(ct);
                var importer = data.Services.GetRequiredService<DatasetImporter>();

                ImportReport report = null!;
                await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                    .StartAsync(async ctx =>
                    {
                        var task = ctx.AddTask($"Importing {Markup.Escape(path.Name)}", maxValue: Math.Max(1, path.Length));
                        report = await importer.ImportAsync(path.FullName, options, new InlineProgress(p => task.Value = p.BytesRead), ct);
                        task.Value = task.MaxValue;
                    });

                Print(report);
                return report.Succeeded ? 0 : 1;
            });
        });
        return command;
    }

    private static void Print(ImportReport report)
    {
        var run = report.Run;
        var colour = run.Status switch
        {
            ImportRunStatus.Completed or ImportRunStatus.AlreadyImported => "green",
            ImportRunStatus.CompletedWithSkips => "yellow",
            _ => "red",
        };
        var table = new Table().Border(TableBorder.Rounded).AddColumn("Import").AddColumn(new TableColumn("").RightAligned());
        table.AddRow("Dataset", Markup.Escape(report.DatasetName));
        table.AddRow("File", Markup.Escape(run.FileName));
        table.AddRow("Format", run.Format.ToString());
        table.AddRow("Status", $"[{colour}]{run.Status}[/]");
        table.AddRow("Rows read", run.RowsRead.ToString());
        table.AddRow("Exam questions imported", run.QuestionsImported.ToString());
        table.AddRow("Verifiable problems imported", run.ProblemsImported.ToString());
        table.AddRow("SFT trajectories imported", run.TrajectoriesImported.ToString());
        table.AddRow("Rows already present", run.RowsAlreadyPresent.ToString());
        table.AddRow("Rows skipped (malformed)", run.RowsSkipped > 0 ? $"[yellow]{run.RowsSkipped}[/]" : "0");
        AnsiConsole.Write(table);

        foreach (var error in run.Errors.Take(ErrorsShown))
            AnsiConsole.MarkupLineInterpolated($"[red]{error.File}:{error.Line}:[/] {error.Reason}");
        if (run.Errors.Count > ErrorsShown)
            AnsiConsole.MarkupLineInterpolated($"[grey]… and {run.Errors.Count - ErrorsShown} more{(run.Id > 0 ? $" (stored with import run {run.Id})" : "")}.[/]");

        switch (run.Status)
        {
            case ImportRunStatus.AlreadyImported:
                AnsiConsole.MarkupLine("This exact file was already imported into the dataset: nothing changed.");
                break;
            case ImportRunStatus.CompletedWithSkips:
                AnsiConsole.MarkupLineInterpolated($"[yellow]{run.RowsSkipped} malformed row(s) skipped[/]; use --strict to refuse the whole file instead.");
                break;
            case ImportRunStatus.RolledBack:
                AnsiConsole.MarkupLineInterpolated($"[red]--strict: {run.RowsSkipped} malformed row(s); the whole import was rolled back, nothing was written.[/]");
                break;
            case ImportRunStatus.Failed:
                AnsiConsole.MarkupLine("[red]The file could not be read to the end; nothing was written.[/]");
                break;
        }
    }

    /// <summary>Reports on the importer's own thread (Progress&lt;T&gt; would post to the thread pool and arrive late).</summary>
    private sealed class InlineProgress(Action<ImportProgress> report) : IProgress<ImportProgress>
    {
        public void Report(ImportProgress value) => report(value);
    }
}
