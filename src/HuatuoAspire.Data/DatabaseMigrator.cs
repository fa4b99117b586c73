using System.Diagnostics;
using Hangfire.PostgreSql;
using HuatuoAspire.Data.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace HuatuoAspire.Data;

/// <summary>
/// The one place that applies EF Core migrations (`huatuo migrate`, and the all-in-one host before it starts the
/// services), as in aspire-samples' database-migrations: inside an activity span, through the execution strategy.
/// </summary>
public static class DatabaseMigrator
{
    public const string ActivitySourceName = "HuatuoAspire.Data";
    private static readonly ActivitySource ActivitySource = new(ActivitySourceName);

    /// <summary>Applies every pending migration (creating the database when it does not exist) and returns their names.</summary>
    public static async Task<IReadOnlyList<string>> MigrateAsync(HuatuoDbContext db, CancellationToken ct)
    {
        using var activity = ActivitySource.StartActivity("Migrating database", ActivityKind.Client);
        try
        {
            var strategy = db.Database.CreateExecutionStrategy();
            var applied = await strategy.ExecuteAsync(async () =>
            {
                var pending = await GetPendingMigrationsAsync(db, ct);
                await db.Database.MigrateAsync(ct);
                // Hangfire's tables too, as the owner: the services' role may not create them (Jobs:PrepareSchema=false).
                await using var connection = new NpgsqlConnection(db.Database.GetConnectionString());
                await connection.OpenAsync(ct);
                PostgreSqlObjectsInstaller.Install(connection, HuatuoJobStorage.Schema);
                return pending;
            });
            activity?.SetTag("huatuo.migrations.applied", applied.Count);
            return applied;
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            activity?.AddException(ex);
            throw;
        }
    }

    /// <summary>
    /// Migrations not yet applied. Asks for the history table only when it exists, so a fresh database does not
    /// log a failed query.
    /// </summary>
    public static async Task<IReadOnlyList<string>> GetPendingMigrationsAsync(HuatuoDbContext db, CancellationToken ct)
    {
        var exists = await db.GetService<IRelationalDatabaseCreator>().ExistsAsync(ct)
                     && await db.GetService<IHistoryRepository>().ExistsAsync(ct);
        return exists ? (await db.Database.GetPendingMigrationsAsync(ct)).ToList() : db.Database.GetMigrations().ToList();
    }

    /// <summary>Resolves a context from <paramref name="services"/> (as registered by AddHuatuoData) and migrates it.</summary>
    public static async Task<IReadOnlyList<string>> MigrateAsync(IServiceProvider services, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<HuatuoDbContext>();
        return await MigrateAsync(db, ct);
    }
}
