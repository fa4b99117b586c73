using System.Diagnostics;

namespace HuatuoAspire.AppHost.Infrastructure;

/// <summary>How PostgreSQL and Azurite run: as containers (a laptop with Docker or Podman) or as executables
/// (PostgreSQL's Debian programs and Azurite from npm, on machines without a container runtime, such as CI).</summary>
public enum InfrastructureMode
{
    Containers,
    Executables,
}

/// <summary>
/// Chooses the <see cref="InfrastructureMode"/>: the <c>infrastructure</c> parameter (<c>Parameters:infrastructure</c>:
/// <c>auto</c>, <c>containers</c> or <c>executables</c>) forces one; <c>auto</c> (the default) asks the container
/// runtime Aspire would use whether its daemon answers.
/// </summary>
public static class InfrastructureModeSelector
{
    public const string ParameterName = "infrastructure";

    public static (InfrastructureMode Mode, string Reason) Select(string? configured, Func<string, bool>? runtimeIsHealthy = null)
    {
        switch (configured?.Trim().ToLowerInvariant())
        {
            case "containers" or "container":
                return (InfrastructureMode.Containers, "forced by the infrastructure parameter");
            case "executables" or "executable":
                return (InfrastructureMode.Executables, "forced by the infrastructure parameter");
            case null or "" or "auto":
                break;
            default:
                throw new ArgumentException(
                    $"Parameters:{ParameterName} must be auto, containers or executables, got '{configured}'.");
        }
        var runtime = Environment.GetEnvironmentVariable("ASPIRE_CONTAINER_RUNTIME") is { Length: > 0 } r ? r : "docker";
        return (runtimeIsHealthy ?? ContainerRuntimeAnswers)(runtime)
            ? (InfrastructureMode.Containers, $"the container runtime '{runtime}' answers")
            : (InfrastructureMode.Executables, $"no healthy container runtime ('{runtime} info' did not answer)");
    }

    /// <summary>True when <c>RUNTIME info</c> exits 0 within 10 s (the client alone, without its daemon, fails).</summary>
    public static bool ContainerRuntimeAnswers(string runtime)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(runtime, ["info", "--format", "{{.ServerVersion}}"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null) return false;
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                process.Kill(entireProcessTree: true);
                return false;
            }
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // not installed
        }
    }
}
