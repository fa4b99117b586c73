using System.CommandLine;
using HuatuoAspire.Data;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

public static class MigrateCommand
{
    public static Command Create()
    {
        var command = new Command("migrate", "Apply the database migrations (creating the database if needed) and exit; the AppHost runs this as its migration step.");
        DataConnection.AddOptions(command);
        command.SetAction(async (parse, ct) =>
        {
            return await DataConnection.RunAsync(parse, ct, async data =>
            {
                var applied = await DatabaseMigrator.MigrateAsync(data.Services, ct);
                if (applied.Count == 0) AnsiConsole.MarkupLine("[green]Database is up to date[/] (no pending migrations).");
                foreach (var name in applied) AnsiConsole.MarkupLineInterpolated($"[green]applied[/] {name}");
                return 0;
            });
        });
        return command;
    }
}
