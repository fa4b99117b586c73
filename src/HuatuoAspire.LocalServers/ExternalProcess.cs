using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace HuatuoAspire.LocalServers;

/// <summary>Runs the command-line programs the local servers are made of, and signals the ones we keep running.</summary>
internal static class ExternalProcess
{
    /// <summary>Runs a program to completion; a non-zero exit is an error that carries the program's output.</summary>
    public static async Task<string> RunAsync(string fileName, IEnumerable<string> arguments, CancellationToken ct,
        string? runAsUser = null, IDictionary<string, string>? environment = null)
    {
        var psi = CreateStartInfo(fileName, arguments, runAsUser);
        if (environment is not null)
        {
            foreach (var (k, v) in environment) psi.Environment[k] = v;
        }
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        var output = new StringBuilder();
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        output.Append(await stdout).Append(await stderr);
        if (process.ExitCode != 0)
        {
            throw new LocalServerException(
                $"{Describe(psi)} exited with code {process.ExitCode}:{Environment.NewLine}{output.ToString().Trim()}");
        }
        return output.ToString();
    }

    public static ProcessStartInfo CreateStartInfo(string fileName, IEnumerable<string> arguments, string? runAsUser)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (runAsUser is null)
        {
            psi.FileName = fileName;
        }
        else
        {
            // PostgreSQL refuses to run as root; as root we run its programs as the user the Debian package created.
            psi.FileName = "runuser";
            psi.ArgumentList.Add("-u");
            psi.ArgumentList.Add(runAsUser);
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(fileName);
        }
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        return psi;
    }

    public static string Describe(ProcessStartInfo psi) => $"'{psi.FileName} {string.Join(' ', psi.ArgumentList)}'";

    public static bool IsRoot => OperatingSystem.IsLinux() && GetEffectiveUserId() == 0;

    /// <summary>Asks a process to shut down cleanly (SIGTERM); <see cref="Process.Kill()"/> would be SIGKILL.</summary>
    public static void Terminate(int pid)
    {
        if (OperatingSystem.IsWindows()) { Process.GetProcessById(pid).Kill(); return; }
        _ = SendSignal(pid, 15);
    }

    /// <summary>SIGKILL by process id (for a process that is not our child).</summary>
    public static void Kill(int pid)
    {
        if (OperatingSystem.IsWindows()) { Process.GetProcessById(pid).Kill(); return; }
        _ = SendSignal(pid, 9);
    }

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEffectiveUserId();

    [DllImport("libc", EntryPoint = "kill")]
    private static extern int SendSignal(int pid, int signal);
}

/// <summary>A local server could not be prepared, started or stopped; the message says which step and why.</summary>
public sealed class LocalServerException(string message) : Exception(message);
