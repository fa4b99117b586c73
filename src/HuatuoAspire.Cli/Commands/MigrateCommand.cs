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
                // The services' least-privilege role (Azure: its password from Key Vault; locally derived, as huatuo up does).
                var configuration = data.Services.GetRequiredService<IConfiguration>();
                var owner = configuration.GetConnectionString(HuatuoDataExtensions.DatabaseConnectionName)!;
                var role = configuration["Database:ServiceRole"] is { Length: > 0 } configured ? configured : DatabaseRoles.DefaultServiceRole;
                var service = await DatabaseRoles.PrepareServiceConnectionAsync(owner, role, configuration["Database:ServiceRolePassword"], ct);
                if (service != owner)
                    AnsiConsole.MarkupLineInterpolated($"[green]granted[/] row access on the application's and Hangfire's tables to role {role}");
                return 0;
            });
        });
        return command;
    }
}
