using System.CommandLine;
using HuatuoAspire.Data.Export;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

public static class ExportCommand
{
    public static Command Create()
    {
        var what = new Option<string>("--what")
        {
            Description = "problems: verifiable problems with their source MCQ fields; sft: Question / Complex_CoT / Response records.",
            Required = true,
        };
        what.AcceptOnlyFromAmong("problems", "sft");
        var output = new Option<FileInfo>("--out") { Description = "File to write (replaced only once complete).", Required = true };
        var format = new Option<string?>("--format") { Description = "json (array) or jsonl. Default: from the file extension (.jsonl → jsonl, else json)." };
        format.AcceptOnlyFromAmong("json", "jsonl");
        var dataset = new Option<string?>("--dataset") { Description = "Export only this dataset (default: all)." };

        var command = new Command("export", "Export verifiable problems or SFT data in the reference formats.") { what, output, format, dataset };
        DataConnection.AddOptions(command);
        command.SetAction(async (parse, ct) =>
        {
            var target = parse.GetValue(output)!;
            var content = parse.GetValue(what) == "sft" ? ExportContent.Sft : ExportContent.Problems;
            var fileFormat = (parse.GetValue(format) ?? (target.Extension.Equals(".jsonl", StringComparison.OrdinalIgnoreCase) ? "jsonl" : "json")) == "jsonl"
                ? ExportFormat.Jsonl : ExportFormat.Json;

            return await DataConnection.RunAsync(parse, ct, async data =>
            {
                await data.EnsureMigratedAsync(ct);
                var exporter = data.Services.GetRequiredService<DatasetExporter>();

                Directory.CreateDirectory(target.DirectoryName!);
                var partial = target.FullName + ".partial";
                int count;
                try
                {
                    await using (var stream = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
                    {
                        count = await AnsiConsole.Status().StartAsync($"Exporting {content.ToString().ToLowerInvariant()}…",
                            _ => exporter.ExportAsync(content, stream, fileFormat, parse.GetValue(dataset), ct));
                    }
                    File.Move(partial, target.FullName, overwrite: true);
                }
                finally
                {
                    if (File.Exists(partial)) File.Delete(partial);
                }
                AnsiConsole.MarkupLineInterpolated($"[green]Wrote {count}[/] {content.ToString().ToLowerInvariant()} record(s) to {target.FullName} ({fileFormat.ToString().ToLowerInvariant()}).");
                return 0;
            });
        });
        return command;
    }
}
