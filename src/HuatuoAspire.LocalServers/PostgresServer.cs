using System.Security.Cryptography;
using Npgsql;

namespace HuatuoAspire.LocalServers;

/// <summary>
/// A real PostgreSQL server on loopback, made with the distribution's own programs: <c>initdb</c> into a data folder
/// (once; later starts keep the data) and <c>pg_ctl</c> to start and stop it. Used by <c>huatuo up</c> and the
/// integration tests when no connection string is configured.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string SuperUser = "postgres";
    private readonly string _binDir;
    private readonly string? _runAs;
    private readonly bool _owned;
    private readonly ServerLeases _leases;
    private string? _lease;
    private int _stopped;

    private PostgresServer(string dataDir, string binDir, string? runAs, int port, string password, bool owned)
    {
        _owned = owned;
        _leases = new ServerLeases(dataDir);
        DataDirectory = dataDir;
        _binDir = binDir;
        _runAs = runAs;
        Port = port;
        Password = password;
    }

    public string DataDirectory { get; }
    public int Port { get; }

    /// <summary>False when another process (say, a running <c>huatuo up</c>) had already started this server and
    /// this instance shares it. Either way the server stops when the last instance using it stops
    /// (<see cref="ServerLeases"/>).</summary>
    public bool StartedHere => _owned;
    private string Password { get; }

    /// <summary>Connection string of the <c>postgres</c> maintenance database.</summary>
    public string ConnectionString => ConnectionStringFor("postgres");

    public string ConnectionStringFor(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = SuperUser,
        Password = Password,
        Database = database,
    }.ConnectionString;

    /// <summary>
    /// Initialises <paramref name="dataDirectory"/> when it holds no cluster yet, then starts the server on a free
    /// loopback port and waits until it accepts connections; a server already running on the folder is shared.
    /// </summary>
    public static async Task<PostgresServer> StartAsync(string dataDirectory, CancellationToken ct = default)
    {
        var binDir = FindBinDirectory();
        var dataDir = Path.GetFullPath(dataDirectory);
        var leases = new ServerLeases(dataDir);
        using (await leases.LockAsync(ct))
        {
            var server = await StartOrShareAsync(binDir, dataDir, ct);
            server._lease = leases.Take();
            return server;
        }
    }

    /// <summary>The user PostgreSQL's programs run as: as root, the <c>postgres</c> user the Debian package made
    /// (PostgreSQL refuses to run as root); otherwise the current user (null).</summary>
    public static string? ServerUser => ExternalProcess.IsRoot ? SuperUser : null;

    /// <summary>The superuser the local clusters are made with.</summary>
    public const string SuperUserName = SuperUser;

    /// <summary>
    /// Makes <paramref name="dataDirectory"/> a PostgreSQL cluster (initdb, loopback only, a random superuser
    /// password kept in <c>DIR.password</c>) unless it already is one, and returns the password. A server can then
    /// be run on it in the foreground (the Aspire AppHost does) or by <see cref="StartAsync"/>.
    /// </summary>
    public static async Task<string> PrepareDataDirectoryAsync(string dataDirectory, CancellationToken ct = default)
    {
        var dataDir = Path.GetFullPath(dataDirectory);
        var passwordFile = dataDir + ".password";
        if (!File.Exists(Path.Combine(dataDir, "PG_VERSION")))
        {
            await InitialiseAsync(FindBinDirectory(), dataDir, ReadOrCreatePassword(dataDir), ServerUser, ct);
        }
        if (!File.Exists(passwordFile))
        {
            throw new LocalServerException(
                $"The PostgreSQL data folder {dataDir} exists but its password file {passwordFile} is missing; " +
                "remove the folder to start afresh, or point ConnectionStrings__huatuodb at the server.");
        }
        return (await File.ReadAllTextAsync(passwordFile, ct)).Trim();
    }

    /// <summary>
    /// The superuser password of the cluster in <paramref name="dataDirectory"/> (<c>DIR.password</c>); when there is
    /// no cluster yet and no password file, a new random password is written there for the cluster to be made with.
    /// </summary>
    public static string ReadOrCreatePassword(string dataDirectory)
    {
        var dataDir = Path.GetFullPath(dataDirectory);
        var passwordFile = dataDir + ".password";
        if (File.Exists(passwordFile)) return File.ReadAllText(passwordFile).Trim();
        if (File.Exists(Path.Combine(dataDir, "PG_VERSION")))
        {
            throw new LocalServerException(
                $"The PostgreSQL data folder {dataDir} exists but its password file {passwordFile} is missing; " +
                "remove the folder to start afresh, or point ConnectionStrings__huatuodb at the server.");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(passwordFile)!);
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
        File.WriteAllText(passwordFile, password);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return password;
    }

    /// <summary>
    /// The connection string of <paramref name="database"/> on a server that another program runs on
    /// <paramref name="dataDirectory"/> (the Aspire AppHost's PostgreSQL), or null when none runs there. Nothing is
    /// started, and the server is left to its owner.
    /// </summary>
    public static async Task<string?> TryConnectToRunningAsync(string dataDirectory, string database, CancellationToken ct = default)
    {
        var dataDir = Path.GetFullPath(dataDirectory);
        var passwordFile = dataDir + ".password";
        if (!File.Exists(passwordFile) || ReadRunningPort(dataDir) is not { } port) return null;
        var connectionString = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = port, Username = SuperUser, Password = (await File.ReadAllTextAsync(passwordFile, ct)).Trim(),
            Database = database, Timeout = 3,
        }.ConnectionString;
        try
        {
            await using var conn = new NpgsqlConnection(connectionString);
            await conn.OpenAsync(ct);
            return connectionString;
        }
        catch (NpgsqlException)
        {
            return null; // a stale pid file, or the database is not made yet
        }
    }

    private static async Task<PostgresServer> StartOrShareAsync(string binDir, string dataDir, CancellationToken ct)
    {
        var runAs = ServerUser;
        var password = await PrepareDataDirectoryAsync(dataDir, ct);

        // A server already running on this folder (another huatuo process) is shared, not restarted.
        if (await IsRunningAsync(binDir, runAs, dataDir, ct) && ReadRunningPort(dataDir) is { } runningPort)
        {
            var shared = new PostgresServer(dataDir, binDir, runAs, runningPort, password, owned: false);
            await shared.WaitUntilReadyAsync(ct);
            return shared;
        }

        var port = FreePort.Pick();
        var log = Path.Combine(dataDir, "server.log");
        await PgCtlAsync(binDir, runAs,
            ["start", "-D", dataDir, "-w", "-t", "60", "-l", log, "-o", $"-p {port}"], ct);

        var server = new PostgresServer(dataDir, binDir, runAs, port, password, owned: true);
        await server.WaitUntilReadyAsync(ct);
        return server;
    }

    /// <summary>Creates the database when it does not exist and returns its connection string.</summary>
    public async Task<string> EnsureDatabaseAsync(string database, CancellationToken ct = default)
    {
        await EnsureDatabaseAsync(ConnectionString, database, ct);
        return ConnectionStringFor(database);
    }

    /// <summary>Creates <paramref name="database"/> on the server of <paramref name="serverConnectionString"/>
    /// (any database of it) when it does not exist.</summary>
    public static async Task EnsureDatabaseAsync(string serverConnectionString, string database, CancellationToken ct = default)
    {
        var maintenance = new NpgsqlConnectionStringBuilder(serverConnectionString) { Database = "postgres" }.ConnectionString;
        await using var conn = new NpgsqlConnection(maintenance);
        await conn.OpenAsync(ct);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", conn)
        {
            Parameters = { new() { Value = database } },
        };
        if (await exists.ExecuteScalarAsync(ct) is null)
        {
            var quoted = "\"" + database.Replace("\"", "\"\"") + "\"";
            await using var create = new NpgsqlCommand($"CREATE DATABASE {quoted}", conn);
            await create.ExecuteNonQueryAsync(ct);
        }
    }

    /// <summary>
    /// Leaves the server; the last instance using it stops it (fast shutdown: open sessions are ended, the data is
    /// flushed), so another huatuo process sharing it keeps its database.
    /// </summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return;
        NpgsqlConnection.ClearAllPools();
        if (_lease is null) return;
        using (await _leases.LockAsync(ct))
        {
            if (!_leases.ReturnAndIsLast(_lease)) return;
            if (await IsRunningAsync(_binDir, _runAs, DataDirectory, ct))
            {
                await PgCtlAsync(_binDir, _runAs, ["stop", "-D", DataDirectory, "-m", "fast", "-w", "-t", "60"], ct);
            }
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private static async Task InitialiseAsync(string binDir, string dataDir, string password, string? runAs,
        CancellationToken ct)
    {
        Directory.CreateDirectory(dataDir);
        if (Directory.EnumerateFileSystemEntries(dataDir).Any())
        {
            throw new LocalServerException(
                $"{dataDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION); refusing to initialise over it.");
        }

        // initdb reads the password from a file; as root the file must be readable by the server's user.
        var initPwFile = Path.Combine(Path.GetTempPath(), $"huatuo-pg-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(initPwFile, password, ct);
        try
        {
            if (runAs is not null)
            {
                await ExternalProcess.RunAsync("chown", ["-R", $"{runAs}:{runAs}", dataDir, initPwFile], ct);
                await EnsureTraversableAsync(dataDir, runAs, ct);
            }
            await ExternalProcess.RunAsync(Path.Combine(binDir, "initdb"),
                ["-D", dataDir, "-U", SuperUser, "--pwfile", initPwFile, "--auth-host=scram-sha-256",
                 "--auth-local=peer", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"], ct, runAs);
        }
        finally
        {
            File.Delete(initPwFile);
        }

        // Loopback only, no Unix socket (its default folder is not writable by every user).
        await File.AppendAllTextAsync(Path.Combine(dataDir, "postgresql.conf"),
            """

            # Written by HuatuoAspire.LocalServers
            listen_addresses = '127.0.0.1'
            unix_socket_directories = ''
            max_connections = 200
            fsync = on

            """, ct);
    }

    private static async Task EnsureTraversableAsync(string dataDir, string user, CancellationToken ct)
    {
        try
        {
            await ExternalProcess.RunAsync("test", ["-w", dataDir], ct, user);
        }
        catch (LocalServerException)
        {
            throw new LocalServerException(
                $"The PostgreSQL user '{user}' cannot reach {dataDir} (a parent folder is private to root). " +
                "Choose a data folder under a world-traversable path (e.g. /var/tmp or /srv), or run as a normal user.");
        }
    }

    private static async Task<bool> IsRunningAsync(string binDir, string? runAs, string dataDir, CancellationToken ct)
    {
        if (!File.Exists(Path.Combine(dataDir, "postmaster.pid"))) return false;
        try
        {
            await PgCtlAsync(binDir, runAs, ["status", "-D", dataDir], ct);
            return true;
        }
        catch (LocalServerException)
        {
            return false; // a stale pid file from a crash: pg_ctl start copes with it
        }
    }

    /// <summary>The port a running server listens on: line 4 of postmaster.pid.</summary>
    private static int? ReadRunningPort(string dataDir)
    {
        try
        {
            var lines = File.ReadAllLines(Path.Combine(dataDir, "postmaster.pid"));
            return lines.Length > 3 && int.TryParse(lines[3].Trim(), out var port) ? port : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static Task<string> PgCtlAsync(string binDir, string? runAs, string[] args, CancellationToken ct) =>
        ExternalProcess.RunAsync(Path.Combine(binDir, "pg_ctl"), args, ct, runAs);

    private async Task WaitUntilReadyAsync(CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                await using var conn = new NpgsqlConnection(ConnectionString);
                await conn.OpenAsync(ct);
                return;
            }
            catch (NpgsqlException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, ct);
            }
        }
    }

    /// <summary>
    /// The folder with initdb and pg_ctl: <c>HUATUO_PG_BIN</c> when set, else the newest Debian PostgreSQL
    /// (<c>/usr/lib/postgresql/N/bin</c>), else the folder of <c>pg_ctl</c> on the PATH.
    /// </summary>
    public static string FindBinDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("HUATUO_PG_BIN");
        if (!string.IsNullOrEmpty(configured)) return configured;

        const string debian = "/usr/lib/postgresql";
        if (Directory.Exists(debian))
        {
            var newest = Directory.GetDirectories(debian)
                .Select(d => (dir: d, ok: int.TryParse(Path.GetFileName(d), out var v), version: v))
                .Where(x => x.ok && File.Exists(Path.Combine(x.dir, "bin", "initdb")))
                .OrderByDescending(x => x.version)
                .FirstOrDefault();
            if (newest.dir is not null) return Path.Combine(newest.dir, "bin");
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (File.Exists(Path.Combine(dir, "pg_ctl")) && File.Exists(Path.Combine(dir, "initdb"))) return dir;
        }
        throw new LocalServerException(
            "PostgreSQL's server programs (initdb, pg_ctl) were not found. Install them (Debian: apt-get install " +
            "postgresql; scripts/prerequisites.sh does it) or set HUATUO_PG_BIN, or configure ConnectionStrings__huatuodb.");
    }
}
