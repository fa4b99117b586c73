using Azure.Storage.Blobs;
using HuatuoAspire.LocalServers;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace HuatuoAspire.Data.FunctionalTests;

/// <summary>One real PostgreSQL and one real Azurite for the whole test run; each test class takes a fresh database.</summary>
public sealed class InfrastructureFixture : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"huatuo-data-tests-{Guid.NewGuid():N}");
    private PostgresServer? _postgres;
    private AzuriteServer? _azurite;
    private int _databases;

    public PostgresServer Postgres => _postgres ?? throw new InvalidOperationException("fixture not started");
    public AzuriteServer Azurite => _azurite ?? throw new InvalidOperationException("fixture not started");
    public string WorkDirectory => _root;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        var postgres = PostgresServer.StartAsync(Path.Combine(_root, "pg"));
        var azurite = AzuriteServer.StartAsync(Path.Combine(_root, "azurite"));
        _postgres = await postgres;
        _azurite = await azurite;
    }

    public async Task DisposeAsync()
    {
        if (_azurite is not null) await _azurite.DisposeAsync();
        if (_postgres is not null) await _postgres.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Creates an empty database with a unique name and returns its connection string.</summary>
    public Task<string> CreateEmptyDatabaseAsync(string prefix) =>
        Postgres.EnsureDatabaseAsync($"{prefix.ToLowerInvariant()}_{Interlocked.Increment(ref _databases)}");

    /// <summary>A fresh, migrated database and a context factory for it.</summary>
    public async Task<IDbContextFactory<HuatuoDbContext>> CreateMigratedDatabaseAsync(string prefix)
    {
        var connectionString = await CreateEmptyDatabaseAsync(prefix);
        var options = new DbContextOptionsBuilder<HuatuoDbContext>()
            .UseNpgsql(connectionString, HuatuoDataExtensions.ConfigureNpgsql).Options;
        await using (var db = new HuatuoDbContext(options)) await DatabaseMigrator.MigrateAsync(db, default);
        return new PooledDbContextFactory<HuatuoDbContext>(options);
    }

    public BlobServiceClient BlobService => new(Azurite.ConnectionString);

    public string NewFolder(string name)
    {
        var path = Path.Combine(_root, $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }
}

[CollectionDefinition(Name)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>
{
    public const string Name = "PostgreSQL and Azurite";
}

/// <summary>The reference demo file, found beside the checkout (`shared/` sits next to the clone in CI).</summary>
public static class SharedData
{
    public static string DemoFile
    {
        get
        {
            var start = RepositoryRoot.TryFind() ?? AppContext.BaseDirectory;
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "data", "huatuo", "demo_data.json");
                if (File.Exists(candidate)) return candidate;
            }
            throw new FileNotFoundException($"shared/data/huatuo/demo_data.json not found in any parent folder of {start}.");
        }
    }
}
