using System.Diagnostics;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>Runs the real <c>huatuo</c> (this build's huatuo.dll) as its own process, as a user at a shell would.</summary>
internal static class HuatuoProcess
{
    public static Task<ProcessOutcome> RunAsync(string[] args, string? huatuoFolder = null, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory ?? Path.GetTempPath() };
        start.ArgumentList.Add(Path.Combine(huatuoFolder ?? AppContext.BaseDirectory, "huatuo.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        return ChildProcess.RunAsync(start, timeout ?? TimeSpan.FromMinutes(3));
    }
}
