using System.CommandLine;
using HuatuoAspire.Cli.Commands;
using HuatuoAspire.Data;
using HuatuoAspire.LocalServers;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Spectre.Console;

namespace HuatuoAspire.Cli.Connections;

/// <summary>
/// How the data commands (import, export, status, migrate) reach the database: `--connection`, else
/// ConnectionStrings__huatuodb from the environment (as Aspire injects it), else the embedded PostgreSQL that
/// `huatuo up` keeps in its data folder (`--data-dir`, default the same as `huatuo up`'s): shared when `huatuo up`
/// is running on it, otherwise started for this command and stopped after it.
/// </summary>
public sealed class DataConnection : IAsyncDisposable
{
    public static readonly Option<string?> ConnectionOption = new("--connection")
    {
        Description = "PostgreSQL connection string (default: environment variable ConnectionStrings__huatuodb).",
    };

    public static readonly Option<DirectoryInfo?> DataDirOption = new("--data-dir")
    {
        Description = "When no connection string is configured: the folder of the embedded PostgreSQL (default: the same as " +
                      "`huatuo up`'s). A running `huatuo up` on it is shared; otherwise it is started for this command only.",
    };

    private readonly IHost _host;
    private readonly PostgresServer? _embedded;

    private DataConnection(IHost host, PostgresServer? embedded)
    {
        _host = host;
        _embedded = embedded;
    }

    public IServiceProvider Services => _host.Services;

    public static void AddOptions(Command command)
    {
        command.Options.Add(ConnectionOption);
        command.Options.Add(DataDirOption);
    }

    public static async Task<DataConnection> OpenAsync(ParseResult parse, CancellationToken ct)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddEnvironmentVariables();
        builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);
        // EF logs the history-table probe of a first migration as a failed command; real failures surface as exceptions.
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore.Database.Command", LogLevel.None);

        PostgresServer? embedded = null;
        var explicitConnection = parse.GetValue(ConnectionOption);
        if (!string.IsNullOrWhiteSpace(explicitConnection))
        {
            builder.Configuration[$"ConnectionStrings:{HuatuoDataExtensions.DatabaseConnectionName}"] = explicitConnection;
        }
        else if (parse.GetValue(DataDirOption) is null && await RunningAppHostDatabaseAsync(ct) is { } appHost &&
                 string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(HuatuoDataExtensions.DatabaseConnectionName)))
        {
            // The Aspire AppHost of this checkout runs: its database is the one the user looks at.
            AnsiConsole.MarkupLine("[grey]the AppHost's PostgreSQL (.data/apphost)[/]");
            builder.Configuration[$"ConnectionStrings:{HuatuoDataExtensions.DatabaseConnectionName}"] = appHost;
        }
        else if (string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(HuatuoDataExtensions.DatabaseConnectionName)))
        {
            var dataDir = parse.GetValue(DataDirOption)?.FullName ?? UpCommand.DefaultDataDirectory();
            embedded = await PostgresServer.StartAsync(Path.Combine(dataDir, "postgres"), ct);
            AnsiConsole.MarkupLineInterpolated(
                $"[grey]embedded PostgreSQL {embedded.DataDirectory} on 127.0.0.1:{embedded.Port} ({(embedded.StartedHere ? "started for this command" : "shared with the huatuo process that started it")})[/]");
            builder.Configuration[$"ConnectionStrings:{HuatuoDataExtensions.DatabaseConnectionName}"] =
                await embedded.EnsureDatabaseAsync(HuatuoDataExtensions.DatabaseConnectionName, ct);
        }

        try
        {
            builder.AddHuatuoData();
            return new DataConnection(builder.Build(), embedded);
        }
        catch
        {
            if (embedded is not null) await embedded.DisposeAsync();
            throw;
        }
    }

    /// <summary>The database of this checkout's running Aspire AppHost (its PostgreSQL in <c>.data/apphost</c>), if any.</summary>
    private static Task<string?> RunningAppHostDatabaseAsync(CancellationToken ct) =>
        RepositoryRoot.TryFind() is { } root
            ? PostgresServer.TryConnectToRunningAsync(Path.Combine(root, ".data", "apphost", "postgres"), HuatuoDataExtensions.DatabaseConnectionName, ct)
            : Task.FromResult<string?>(null);

    /// <summary>
    /// Opens the connection and runs <paramref name="body"/>. A configuration or connection problem escapes to
    /// CommandLineError, which says it in one line with its exit code (5 when PostgreSQL cannot be reached).
    /// </summary>
    public static async Task<int> RunAsync(ParseResult parse, CancellationToken ct, Func<DataConnection, Task<int>> body)
    {
        await using var data = await OpenAsync(parse, ct);
        return await body(data);
    }

    /// <summary>Fails with a clear message when the schema is behind the code: only `huatuo migrate` changes it.</summary>
    public async Task EnsureMigratedAsync(CancellationToken ct)
    {
        await using var db = await Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync(ct);
        var pending = await DatabaseMigrator.GetPendingMigrationsAsync(db, ct);
        if (pending.Count > 0)
            throw new InvalidOperationException($"The database has {pending.Count} migration(s) not applied ({string.Join(", ", pending)}): run `huatuo migrate` first.");
    }

    public async ValueTask DisposeAsync()
    {
        _host.Dispose();
        if (_embedded is not null) await _embedded.DisposeAsync();
    }
}
