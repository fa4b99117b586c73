using Azure.Storage.Blobs;
using HuatuoAspire.LocalServers;
using Npgsql;

namespace HuatuoAspire.LocalServers.FunctionalTests;

public sealed class LocalServerTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"huatuo-localservers-{Guid.NewGuid():N}");

    [Fact]
    public async Task PostgresKeepsItsDataAcrossARestart()
    {
        var dataDir = Path.Combine(_root, "pg");
        await using (var first = await PostgresServer.StartAsync(dataDir))
        {
            var cs = await first.EnsureDatabaseAsync("huatuodb");
            await using var conn = new NpgsqlConnection(cs);
            await conn.OpenAsync();
            await new NpgsqlCommand("CREATE TABLE notes(text text); INSERT INTO notes VALUES ('kept')", conn).ExecuteNonQueryAsync();
        }

        await using var second = await PostgresServer.StartAsync(dataDir);
        var again = await second.EnsureDatabaseAsync("huatuodb");
        await using var conn2 = new NpgsqlConnection(again);
        await conn2.OpenAsync();
        Assert.Equal("kept", await new NpgsqlCommand("SELECT text FROM notes", conn2).ExecuteScalarAsync());
        Assert.Equal("127.0.0.1", conn2.Host);
    }

    [Fact]
    public async Task PostgresStopsWhenDisposed()
    {
        var server = await PostgresServer.StartAsync(Path.Combine(_root, "pg-stop"));
        var port = server.Port;
        Assert.True(await FreePort.IsAcceptingAsync(port, default));
        await server.DisposeAsync();
        Assert.False(await FreePort.IsAcceptingAsync(port, default));
        Assert.False(File.Exists(Path.Combine(server.DataDirectory, "postmaster.pid")));
    }

    [Fact]
    public async Task PostgresRefusesAFolderThatIsNotACluster()
    {
        var dataDir = Path.Combine(_root, "not-a-cluster");
        Directory.CreateDirectory(dataDir);
        await File.WriteAllTextAsync(Path.Combine(dataDir, "something.txt"), "precious");
        var error = await Assert.ThrowsAsync<LocalServerException>(() => PostgresServer.StartAsync(dataDir));
        Assert.Contains("refusing to initialise", error.Message);
        Assert.Equal("precious", await File.ReadAllTextAsync(Path.Combine(dataDir, "something.txt")));
    }

    [Fact]
    public async Task AzuriteKeepsBlobsAcrossARestart()
    {
        var dataDir = Path.Combine(_root, "azurite");
        await using (var first = await AzuriteServer.StartAsync(dataDir))
        {
            var container = new BlobContainerClient(first.ConnectionString, "huatuo");
            await container.CreateIfNotExistsAsync();
            await container.GetBlobClient("a/b.txt").UploadAsync(BinaryData.FromString("kept"));
        }

        await using var second = await AzuriteServer.StartAsync(dataDir);
        var blob = new BlobContainerClient(second.ConnectionString, "huatuo").GetBlobClient("a/b.txt");
        Assert.Equal("kept", (await blob.DownloadContentAsync()).Value.Content.ToString());
    }

    [Fact]
    public async Task AzuriteKeepsNoDebugLogOfItsRequests()
    {
        var dataDir = Path.Combine(_root, "azurite-quiet");
        await using (var server = await AzuriteServer.StartAsync(dataDir))
        {
            var container = new BlobContainerClient(server.ConnectionString, "huatuo");
            await container.CreateIfNotExistsAsync();
            await container.GetBlobClient("secret.txt").UploadAsync(BinaryData.FromString("a request body"));
        }
        Assert.False(File.Exists(Path.Combine(dataDir, "debug.log")));
        Assert.DoesNotContain(Directory.GetFiles(dataDir, "*.log"), f => File.ReadAllText(f).Contains("a request body", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AzuriteStopsWhenDisposed()
    {
        var server = await AzuriteServer.StartAsync(Path.Combine(_root, "azurite-stop"));
        var pid = server.ProcessId;
        await server.DisposeAsync();
        Assert.False(await FreePort.IsAcceptingAsync(server.Port, default));
        Assert.Throws<ArgumentException>(() => System.Diagnostics.Process.GetProcessById(pid));
    }

    [Fact]
    public async Task ASecondPostgresOnTheSameFolderSharesTheRunningServerAndLeavesItRunning()
    {
        var dataDir = Path.Combine(_root, "pg-shared");
        await using var first = await PostgresServer.StartAsync(dataDir);
        await using (var second = await PostgresServer.StartAsync(dataDir))
        {
            Assert.False(second.StartedHere);
            Assert.Equal(first.Port, second.Port);
        }
        await using var conn = new NpgsqlConnection(first.ConnectionString);
        await conn.OpenAsync();
        Assert.Equal(1, await new NpgsqlCommand("SELECT 1", conn).ExecuteScalarAsync());
    }

    [Fact]
    public async Task ASecondAzuriteOnTheSameFolderSharesTheRunningServerAndLeavesItRunning()
    {
        var dataDir = Path.Combine(_root, "azurite-shared");
        await using var first = await AzuriteServer.StartAsync(dataDir);
        await using (var second = await AzuriteServer.StartAsync(dataDir))
        {
            Assert.False(second.StartedHere);
            Assert.Equal(first.Port, second.Port);
        }
        var container = new BlobContainerClient(first.ConnectionString, "still-up");
        await container.CreateIfNotExistsAsync();
        Assert.True(await container.ExistsAsync());
    }

    [Fact]
    public async Task PostgresStopsWithTheLastUserWhicheverStartedIt()
    {
        var dataDir = Path.Combine(_root, "pg-last-out");
        var starter = await PostgresServer.StartAsync(dataDir);
        var sharer = await PostgresServer.StartAsync(dataDir);
        Assert.True(starter.StartedHere);
        Assert.False(sharer.StartedHere);

        // The process that started it leaves first: the one still using it keeps its database.
        await starter.DisposeAsync();
        await using (var conn = new NpgsqlConnection(sharer.ConnectionString))
        {
            await conn.OpenAsync();
            Assert.Equal(1, await new NpgsqlCommand("SELECT 1", conn).ExecuteScalarAsync());
        }

        await sharer.DisposeAsync();
        Assert.False(await FreePort.IsAcceptingAsync(sharer.Port, default));
        Assert.False(File.Exists(Path.Combine(dataDir, "postmaster.pid")));
    }

    [Fact]
    public async Task ALeaseOfAProcessThatDiedDoesNotKeepPostgresRunning()
    {
        var dataDir = Path.Combine(_root, "pg-dead-lease");
        await using var server = await PostgresServer.StartAsync(dataDir);
        // A huatuo process killed with SIGKILL leaves its lease behind: a process that has exited.
        using var gone = System.Diagnostics.Process.Start("true")!;
        await gone.WaitForExitAsync();
        var leases = Path.GetFullPath(dataDir) + ".leases";
        await File.WriteAllTextAsync(Path.Combine(leases, $"{gone.Id}.{Guid.NewGuid():N}"), "");

        await server.DisposeAsync();
        Assert.False(await FreePort.IsAcceptingAsync(server.Port, default));
        Assert.Equal([".lock"], Directory.GetFiles(leases).Select(Path.GetFileName));
    }

    [Fact]
    public async Task AzuriteStopsWithTheLastUserWhicheverStartedIt()
    {
        var dataDir = Path.Combine(_root, "azurite-last-out");
        var starter = await AzuriteServer.StartAsync(dataDir);
        var sharer = await AzuriteServer.StartAsync(dataDir);
        var pid = starter.ProcessId;
        Assert.False(sharer.StartedHere);

        await starter.DisposeAsync();
        var container = new BlobContainerClient(sharer.ConnectionString, "kept-up");
        await container.CreateIfNotExistsAsync();
        Assert.True(await container.ExistsAsync());

        await sharer.DisposeAsync();
        Assert.False(await FreePort.IsAcceptingAsync(sharer.Port, default));
        Assert.Throws<ArgumentException>(() => System.Diagnostics.Process.GetProcessById(pid));
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
