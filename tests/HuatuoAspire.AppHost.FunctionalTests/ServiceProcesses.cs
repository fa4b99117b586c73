namespace HuatuoAspire.AppHost.FunctionalTests;

/// <summary>The processes an AppHost run started on this machine, found by what only they carry: the run's data folder
/// on their command line (PostgreSQL, Azurite) or its connection strings in their environment (every service).</summary>
internal static class ServiceProcesses
{
    public static IReadOnlyList<(int Pid, string Command)> Find(params string[] markers)
    {
        var found = new List<(int, string)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                var command = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim();
                var environment = File.ReadAllText(Path.Combine(dir, "environ"));
                if (markers.Any(m => command.Contains(m, StringComparison.Ordinal) || environment.Contains(m, StringComparison.Ordinal)))
                    found.Add((pid, command));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // the process ended while we looked
            }
        }
        return found;
    }
}
