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
    private int _stopped;

    private AzuriteServer(Process? process, int port, string dataDir)
    {
        _process = process;
        Port = port;
        DataDirectory = dataDir;
    }

    public int Port { get; }
    public string DataDirectory { get; }
    public int ProcessId => _process?.Id ?? ReadPidFile(DataDirectory)?.Pid ?? 0;

    /// <summary>False when another process had already started Azurite on this folder: then it is used and left running.</summary>
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

        // Azurite running on this folder already (another huatuo process): share it; two on one folder would clash.
        if (ReadPidFile(dataDir) is { } running && IsAlive(running.Pid) && await FreePort.IsAcceptingAsync(running.Port, ct))
        {
            return new AzuriteServer(null, running.Port, dataDir);
        }
        var port = FreePort.Pick();

        var psi = ExternalProcess.CreateStartInfo(program,
        [
            "--blobHost", "127.0.0.1", "--blobPort", port.ToString(),
            "--location", dataDir,
            // The current Azure.Storage.Blobs asks for a service version newer than Azurite knows.
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--loose",
            "--debug", Path.Combine(dataDir, "debug.log"),
        ], runAsUser: null);
        var process = Process.Start(psi) ?? throw new LocalServerException($"Could not start {program}.");
        // Drain its output so a full pipe never blocks it; keep the tail for error messages.
        var tail = new OutputTail();
        process.OutputDataReceived += (_, e) => tail.Add(e.Data);
        process.ErrorDataReceived += (_, e) => tail.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var server = new AzuriteServer(process, port, dataDir);
        try
        {
            await server.WaitUntilReadyAsync(tail, ct);
            await File.WriteAllTextAsync(Path.Combine(dataDir, PidFileName), $"{process.Id} {port}", ct);
        }
        catch
        {
            await server.StopAsync();
            throw;
        }
        return server;
    }

    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return;
        if (_process is null || _process.HasExited) return;
        // SIGTERM lets Azurite flush its metadata store; SIGKILL only if it does not go within 15 s.
        ExternalProcess.Terminate(_process.Id);
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
        File.Delete(Path.Combine(DataDirectory, PidFileName));
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
    }

    private async Task WaitUntilReadyAsync(OutputTail tail, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process is { HasExited: true })
            {
                throw new LocalServerException($"Azurite exited with code {_process.ExitCode}: {tail}");
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
        throw new LocalServerException($"Azurite did not answer on port {Port} within 60 s: {tail}");
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

    private static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private sealed class OutputTail
    {
        private readonly Queue<string> _lines = new();
        public void Add(string? line)
        {
            if (line is null) return;
            lock (_lines)
            {
                _lines.Enqueue(line);
                while (_lines.Count > 20) _lines.Dequeue();
            }
        }
        public override string ToString() { lock (_lines) return string.Join(Environment.NewLine, _lines); }
    }
}
