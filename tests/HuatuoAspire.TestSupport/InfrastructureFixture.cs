using Azure.Storage.Blobs;
using HuatuoAspire.Data;
using HuatuoAspire.LocalServers;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace HuatuoAspire.TestSupport;

/// <summary>
/// One real PostgreSQL (with a <c>huatuodb</c> database) and one real Azurite for a test collection, in a temporary
/// folder removed afterwards. Tests that need a clean database take their own with <see cref="CreateMigratedDatabaseAsync"/>.
/// Each test project declares the collection (xunit finds collection definitions only in the test assembly):
/// <c>[CollectionDefinition(Name)] public sealed class InfrastructureCollection : ICollectionFixture&lt;InfrastructureFixture&gt;</c>.
/// </summary>
public sealed class InfrastructureFixture : IAsyncLifetime
{
    private int _databases;

    // Not CreateTempSubdirectory: its folder is private to its owner, and PostgreSQL runs as the postgres user under root.
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), $"huatuo-tests-{Guid.NewGuid():N}");

    /// <summary>The servers as <c>huatuo up</c> holds them; hand it to <c>AllInOneHost.CreateAsync</c>.</summary>
    public LocalInfrastructure Infrastructure { get; private set; } = null!;

    public PostgresServer Postgres => Infrastructure.Postgres!;
    public AzuriteServer Azurite => Infrastructure.Azurite!;
    public BlobServiceClient BlobService => new(Infrastructure.BlobConnectionString);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(DataDirectory);
        Infrastructure = await LocalInfrastructure.StartAsync(DataDirectory, "huatuodb", null, null);
    }

    public async Task DisposeAsync()
    {
        if (Infrastructure is not null) await Infrastructure.DisposeAsync();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>An empty database with a unique name; returns its connection string.</summary>
    public Task<string> CreateEmptyDatabaseAsync(string prefix = "test") =>
        Postgres.EnsureDatabaseAsync($"{prefix.ToLowerInvariant()}_{Interlocked.Increment(ref _databases)}");

    /// <summary>A fresh database with every migration applied.</summary>
    public async Task<MigratedDatabase> CreateMigratedDatabaseAsync(string prefix = "test")
    {
        var connectionString = await CreateEmptyDatabaseAsync(prefix);
        var options = new DbContextOptionsBuilder<HuatuoDbContext>().UseNpgsql(connectionString, HuatuoDataExtensions.ConfigureNpgsql).Options;
        await using (var db = new HuatuoDbContext(options)) await DatabaseMigrator.MigrateAsync(db, default);
        return new MigratedDatabase(connectionString, new PooledDbContextFactory<HuatuoDbContext>(options));
    }

    /// <summary>A new empty folder inside the fixture's folder (removed with it).</summary>
    public string NewFolder(string name) => Directory.CreateDirectory(Path.Combine(DataDirectory, $"{name}-{Guid.NewGuid():N}")).FullName;
}
