using HuatuoAspire.Data;
using HuatuoAspire.LocalServers;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace HuatuoAspire.Workers.Tests;

/// <summary>One real PostgreSQL for the test run; each test takes a fresh, migrated database.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"huatuo-workers-tests-{Guid.NewGuid():N}");
    private PostgresServer? _postgres;
    private int _databases;

    public PostgresServer Postgres => _postgres ?? throw new InvalidOperationException("fixture not started");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        _postgres = await PostgresServer.StartAsync(Path.Combine(_root, "pg"));
    }

    public async Task DisposeAsync()
    {
        if (_postgres is not null) await _postgres.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public async Task<(string ConnectionString, IDbContextFactory<HuatuoDbContext> Factory)> CreateMigratedDatabaseAsync()
    {
        var connectionString = await Postgres.EnsureDatabaseAsync($"workers_{Interlocked.Increment(ref _databases)}");
        var options = new DbContextOptionsBuilder<HuatuoDbContext>().UseNpgsql(connectionString, HuatuoDataExtensions.ConfigureNpgsql).Options;
        await using (var db = new HuatuoDbContext(options)) await DatabaseMigrator.MigrateAsync(db, default);
        return (connectionString, new PooledDbContextFactory<HuatuoDbContext>(options));
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "PostgreSQL";
}
