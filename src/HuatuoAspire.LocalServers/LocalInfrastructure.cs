namespace HuatuoAspire.LocalServers;

/// <summary>
/// The database and blob storage a process runs against: the configured ones when connection strings are given,
/// otherwise a PostgreSQL server and an Azurite server started here, with their data under one folder. Disposing
/// stops what was started here (and only that).
/// </summary>
public sealed class LocalInfrastructure : IAsyncDisposable
{
    private LocalInfrastructure(string databaseConnectionString, string blobConnectionString,
        PostgresServer? postgres, AzuriteServer? azurite)
    {
        DatabaseConnectionString = databaseConnectionString;
        BlobConnectionString = blobConnectionString;
        Postgres = postgres;
        Azurite = azurite;
    }

    public string DatabaseConnectionString { get; }
    public string BlobConnectionString { get; }
    public PostgresServer? Postgres { get; }
    public AzuriteServer? Azurite { get; }

    public static async Task<LocalInfrastructure> StartAsync(string dataDirectory, string databaseName,
        string? configuredDatabase, string? configuredBlobs, Action<string>? log = null, CancellationToken ct = default)
    {
        PostgresServer? postgres = null;
        AzuriteServer? azurite = null;
        try
        {
            var database = configuredDatabase;
            if (string.IsNullOrWhiteSpace(database))
            {
                postgres = await PostgresServer.StartAsync(Path.Combine(dataDirectory, "postgres"), ct);
                database = await postgres.EnsureDatabaseAsync(databaseName, ct);
                log?.Invoke($"PostgreSQL {postgres.DataDirectory} on 127.0.0.1:{postgres.Port}");
            }
            var blobs = configuredBlobs;
            if (string.IsNullOrWhiteSpace(blobs))
            {
                azurite = await AzuriteServer.StartAsync(Path.Combine(dataDirectory, "azurite"), ct);
                blobs = azurite.ConnectionString;
                log?.Invoke($"Azurite {azurite.DataDirectory} on {azurite.BlobEndpoint} (pid {azurite.ProcessId})");
            }
            return new LocalInfrastructure(database, blobs, postgres, azurite);
        }
        catch
        {
            if (azurite is not null) await azurite.DisposeAsync();
            if (postgres is not null) await postgres.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Stop both even when one of them fails to stop.
        Exception? first = null;
        try { if (Azurite is not null) await Azurite.DisposeAsync(); } catch (Exception e) { first = e; }
        try { if (Postgres is not null) await Postgres.DisposeAsync(); } catch (Exception e) { first ??= e; }
        if (first is not null) throw first;
    }
}
