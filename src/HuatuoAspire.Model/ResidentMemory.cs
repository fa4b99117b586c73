using System.Globalization;

namespace HuatuoAspire.Model;

/// <summary>
/// This process's resident memory from /proc/self/status (Linux): VmRSS now and VmHWM, its peak. Pages of a file
/// that are read (not mapped) sit in the page cache and are not counted; mapped pages that were touched are.
/// </summary>
public static class ResidentMemory
{
    private const string Status = "/proc/self/status";

    /// <summary>Peak resident bytes (VmHWM), or the working-set peak where /proc is absent.</summary>
    public static long Peak() => Read("VmHWM:") ?? System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64;

    /// <summary>Resident bytes now (VmRSS).</summary>
    public static long Current() => Read("VmRSS:") ?? Environment.WorkingSet;

    /// <summary>Whether <see cref="ResetPeak"/> works here (Linux 4.0+, writable /proc/self/clear_refs).</summary>
    public static bool CanResetPeak
    {
        get
        {
            try
            {
                ResetPeak();
                return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        }
    }

    /// <summary>Sets the peak to the current resident size ("5" to clear_refs), so a later <see cref="Peak"/> covers only what follows.</summary>
    public static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");

    private static long? Read(string key)
    {
        if (!File.Exists(Status)) return null;
        foreach (var line in File.ReadLines(Status))
        {
            if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
            return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        return null;
    }
}
