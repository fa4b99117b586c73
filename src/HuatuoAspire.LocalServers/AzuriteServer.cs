using System.Diagnostics;
using System.Net.Http;

namespace HuatuoAspire.LocalServers;

/// <summary>
/// A real Azurite blob server (the Azure Storage emulator, npm package <c>azurite</c>) on loopback. The
/// <c>azurite-blob</c> program is started directly, not through npx, so the process id kept is the server's own.
/// Blobs persist in the data folder across restarts.
/// </summary>
public sealed class AzuriteServer : IAsyncDisposable
{
    /// <summary>Azurite's fixed development account (public, documented; only valid against the emulator).</summary>
    public const string AccountName = "devstoreaccount1";
    public const string AccountKey =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private const string PidFileName = "azurite.pid";
    private readonly Process? _process;
    private readonly ServerLeases _leases;
    private string? _lease;
    private int _stopped;

    private AzuriteServer(Process? process, int port, string dataDir)
    {
        _process = process;
        _leases = new ServerLeases(dataDir);
        Port = port;
        DataDirectory = dataDir;
    }

    public int Port { get; }
    public string DataDirectory { get; }
    public int ProcessId => _process?.Id ?? ReadPidFile(DataDirectory)?.Pid ?? 0;

    /// <summary>False when another process had already started Azurite on this folder and this instance shares it.
    /// Either way it stops when the last instance using it stops (<see cref="ServerLeases"/>).</summary>
    public bool StartedHere => _process is not null;

    public string BlobEndpoint => $"http://127.0.0.1:{Port}/{AccountName}";

    /// <summary>The connection string Azure.Storage.Blobs takes (and Aspire injects as ConnectionStrings__blobs).</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={BlobEndpoint};";

    public static async Task<AzuriteServer> StartAsync(string dataDirectory, CancellationToken ct = default)
    {
        var program = FindProgram();
        var dataDir = Path.GetFullPath(dataDirectory);
        Directory.CreateDirectory(dataDir);
        var leases = new ServerLeases(dataDir);
        using (await leases.LockAsync(ct))
        {
            var server = await StartOrShareAsync(program, dataDir, ct);
            server._lease = leases.Take();
            return server;
        }
    }

    private static async Task<AzuriteServer> StartOrShareAsync(string program, string dataDir, CancellationToken ct)
    {
        // Azurite running on this folder already (another huatuo process): share it; two on one folder would clash.
        if (ReadPidFile(dataDir) is { } running && ServerLeases.IsAlive(running.Pid) && await FreePort.IsAcceptingAsync(running.Port, ct))
        {
            return new AzuriteServer(null, running.Port, dataDir);
        }
        var port = FreePort.Pick();
        var log = Path.Combine(dataDir, "azurite.log");
        // Azurite may outlive this process (another huatuo process still shares it), so it must not hang on our
        // pipes or our terminal: its output goes to a log file and it runs in a session of its own (Ctrl+C here
        // does not reach it). `exec` keeps the process id the server's own.
        var psi = new ProcessStartInfo { FileName = "/bin/sh", UseShellExecute = false, RedirectStandardInput = true };
        foreach (var a in new[]
        {
            "-c", "log=$1; shift; exec setsid \"$0\" \"$@\" >>\"$log\" 2>&1", program, log,
            "--blobHost", "127.0.0.1", "--blobPort", port.ToString(),
            "--location", dataDir,
            // The current Azure.Storage.Blobs asks for a service version newer than Azurite knows.
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--loose",
            // No --debug: its log records every request in full (headers and bodies) and grows without bound.
        }) psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new LocalServerException($"Could not start {program}.");

        var server = new AzuriteServer(process, port, dataDir);
        try
        {
            await server.WaitUntilReadyAsync(log, ct);
            await File.WriteAllTextAsync(Path.Combine(dataDir, PidFileName), $"{process.Id} {port}", ct);
        }
        catch
        {
            await server.TerminateAsync(process.Id);
            throw;
        }
        return server;
    }

    /// <summary>
    /// Leaves the server; the last instance using it stops it (SIGTERM lets Azurite flush its metadata store), so
    /// another huatuo process sharing it keeps its blobs.
    /// </summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return;
        if (_lease is null) return;
        using (await _leases.LockAsync(CancellationToken.None))
        {
            if (!_leases.ReturnAndIsLast(_lease)) return;
            var pid = _process?.Id ?? ReadPidFile(DataDirectory)?.Pid;
            if (pid is not null && ServerLeases.IsAlive(pid.Value)) await TerminateAsync(pid.Value);
            File.Delete(Path.Combine(DataDirectory, PidFileName));
        }
    }

    /// <summary>SIGTERM, then SIGKILL if it has not gone within 15 s.</summary>
    private async Task TerminateAsync(int pid)
    {
        ExternalProcess.Terminate(pid);
        if (_process is not null && _process.Id == pid)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
            return;
        }
        // Started by a process that has left: not our child, so poll for its exit.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (ServerLeases.IsAlive(pid))
        {
            if (DateTime.UtcNow > deadline)
            {
                ExternalProcess.Kill(pid);
                deadline = DateTime.MaxValue;
            }
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
    }

    private async Task WaitUntilReadyAsync(string log, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process is { HasExited: true })
            {
                throw new LocalServerException($"Azurite exited with code {_process.ExitCode}: {Tail(log)}");
            }
            try
            {
                // Any HTTP answer (403 for an unsigned request) means the blob service is listening.
                using var response = await http.GetAsync($"{BlobEndpoint}?comp=list", ct);
                return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { }
            await Task.Delay(200, ct);
        }
        throw new LocalServerException($"Azurite did not answer on port {Port} within 60 s: {Tail(log)}");
    }

    /// <summary>
    /// <c>HUATUO_AZURITE</c> when set; else the checkout's <c>tools/azurite/node_modules/.bin/azurite-blob</c>
    /// (installed by scripts/prerequisites.sh); else <c>azurite-blob</c> on the PATH.
    /// </summary>
    public static string FindProgram()
    {
        var configured = Environment.GetEnvironmentVariable("HUATUO_AZURITE");
        if (!string.IsNullOrEmpty(configured)) return configured;
        var root = RepositoryRoot.TryFind();
        if (root is not null)
        {
            var local = Path.Combine(root, "tools", "azurite", "node_modules", ".bin", "azurite-blob");
            if (File.Exists(local)) return local;
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var candidate = Path.Combine(dir, "azurite-blob");
            if (File.Exists(candidate)) return candidate;
        }
        throw new LocalServerException(
            "Azurite was not found. Run scripts/prerequisites.sh (installs it under tools/azurite), set HUATUO_AZURITE, " +
            "or configure ConnectionStrings__blobs.");
    }

    private static (int Pid, int Port)? ReadPidFile(string dataDir)
    {
        try
        {
            var parts = File.ReadAllText(Path.Combine(dataDir, PidFileName)).Split(' ');
            return parts.Length == 2 && int.TryParse(parts[0], out var pid) && int.TryParse(parts[1], out var port)
                ? (pid, port) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The last lines of Azurite's log, for error messages.</summary>
    private static string Tail(string log)
    {
        try
        {
            return string.Join(Environment.NewLine, File.ReadLines(log).TakeLast(20));
        }
        catch (IOException)
        {
            return "(no output)";
        }
    }
}
