using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using HuatuoAspire.Data.Entities;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace HuatuoAspire.Data.FunctionalTests;

/// <summary>Issue 12 item 5: the services log in as a role that reads and writes rows and changes nothing else.</summary>
[Collection(InfrastructureCollection.Name)]
public sealed class DatabaseRolesTests(InfrastructureFixture infra)
{
    [Fact]
    public async Task TheServicesRoleReadsAndWritesRowsOfBothSchemasButCannotChangeTheSchemaOrReadTheCatalogsSecrets()
    {
        var owner = await infra.CreateEmptyDatabaseAsync("roles");
        await using (var db = HuatuoDataExtensions.CreateDbContext(owner)) await DatabaseMigrator.MigrateAsync(db, default);
        var service = await DatabaseRoles.PrepareServiceConnectionAsync(owner, "huatuo_service_test", password: null, default);
        Assert.Equal("huatuo_service_test", new NpgsqlConnectionStringBuilder(service).Username);

        // Rows of the application's schema, through EF as the services use it.
        await using (var db = HuatuoDataExtensions.CreateDbContext(service))
        {
            db.Datasets.Add(new Dataset { Name = "written-by-the-service" });
            await db.SaveChangesAsync();
            Assert.Equal(1, await db.Datasets.CountAsync(d => d.Name == "written-by-the-service"));
            db.Datasets.Remove(await db.Datasets.SingleAsync());
            await db.SaveChangesAsync();
        }

        // Hangfire's tables, installed by the migration, used without installing anything.
        var storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(service, new PostgreSqlStorageOptions()),
            new PostgreSqlStorageOptions { SchemaName = "hangfire", PrepareSchemaIfNecessary = false });
        var jobId = new BackgroundJobClient(storage).Enqueue(() => Console.WriteLine("queued by the service role"));
        using (var connection = storage.GetConnection()) Assert.NotNull(connection.GetJobData(jobId));

        // Nothing beyond rows.
        foreach (var statement in new[]
                 {
                     "CREATE TABLE intruder (id int)",
                     "CREATE TABLE hangfire.intruder (id int)",
                     "DROP TABLE \"Datasets\"",
                     "ALTER TABLE hangfire.job ADD COLUMN intruder int",
                     "TRUNCATE \"Datasets\"",
                     "SELECT rolpassword FROM pg_authid",
                     "CREATE ROLE intruder SUPERUSER",
                 })
        {
            var refused = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(service, statement));
            Assert.True(refused.SqlState is PostgresErrorCodes.InsufficientPrivilege or "42501", $"{statement}: {refused.SqlState} {refused.MessageText}");
        }
    }

    [Fact]
    public async Task PreparingTheRoleTwiceKeepsOnePasswordSoRunningServicesStayConnected()
    {
        var owner = await infra.CreateEmptyDatabaseAsync("roles_twice");
        await using (var db = HuatuoDataExtensions.CreateDbContext(owner)) await DatabaseMigrator.MigrateAsync(db, default);
        var first = await DatabaseRoles.PrepareServiceConnectionAsync(owner, "huatuo_service_twice", password: null, default);
        var second = await DatabaseRoles.PrepareServiceConnectionAsync(owner, "huatuo_service_twice", password: null, default);
        Assert.Equal(first, second);
        await ExecuteAsync(first, "SELECT count(*) FROM \"Datasets\"");
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
