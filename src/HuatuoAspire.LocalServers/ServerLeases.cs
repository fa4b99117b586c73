using System.Diagnostics;

namespace HuatuoAspire.LocalServers;

/// <summary>
/// Who is using a local server on a data folder. Every instance that starts or shares the server holds a lease (a
/// file named after its process id, in a folder beside the data folder); the last one to leave stops the server,
/// whichever process started it. So <c>huatuo import</c> started first and <c>huatuo up</c> started while it runs
/// can finish in either order, and the server stops with the last of them. Leases of processes that died without
/// leaving (SIGKILL) do not count. Start and stop decisions take an exclusive lock file, so a process never shares a
/// server that another one is stopping.
/// </summary>
internal sealed class ServerLeases
{
    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(2);

    public ServerLeases(string dataDirectory) => Folder = dataDirectory.TrimEnd(Path.DirectorySeparatorChar) + ".leases";

    public string Folder { get; }

    /// <summary>
    /// Waits for the exclusive lock (FileShare.None is an advisory <c>flock</c> on Unix, between processes and within
    /// one). A server start or stop takes seconds; the timeout only guards against a lock file held by a hung process.
    /// </summary>
    public async Task<IDisposable> LockAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(Folder);
        var path = Path.Combine(Folder, ".lock");
        var deadline = DateTime.UtcNow + LockTimeout;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100, ct);
            }
            catch (IOException e)
            {
                throw new LocalServerException(
                    $"Another process has held {path} for over {LockTimeout.TotalMinutes:0} minutes while starting or " +
                    $"stopping the server; stop it or remove the file. ({e.Message})");
            }
        }
    }

    /// <summary>Takes a lease for this instance (call with the lock held); returns its name.</summary>
    public string Take()
    {
        Directory.CreateDirectory(Folder);
        var name = $"{Environment.ProcessId}.{Guid.NewGuid():N}";
        File.WriteAllText(Path.Combine(Folder, name), DateTime.UtcNow.ToString("O"));
        return name;
    }

    /// <summary>
    /// Gives <paramref name="lease"/> back (call with the lock held), forgets the leases of processes that are gone,
    /// and says whether nobody else holds one: then the caller stops the server.
    /// </summary>
    public bool ReturnAndIsLast(string lease)
    {
        File.Delete(Path.Combine(Folder, lease));
        var others = 0;
        foreach (var path in Directory.EnumerateFiles(Folder))
        {
            var name = Path.GetFileName(path);
            if (name == ".lock") continue;
            var dot = name.IndexOf('.');
            // A process id the system gave to a newer process since the lease was taken is not the lease holder.
            if (dot > 0 && int.TryParse(name[..dot], out var pid) && IsAlive(pid, File.GetLastWriteTimeUtc(path))) others++;
            else File.Delete(path);
        }
        return others == 0;
    }

    public static bool IsAlive(int pid, DateTime? startedBy = null)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited) return false;
            return startedBy is null || process.StartTime.ToUniversalTime() <= startedBy.Value.AddSeconds(1);
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
