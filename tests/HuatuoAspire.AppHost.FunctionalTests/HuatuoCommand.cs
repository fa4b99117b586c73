using System.Diagnostics;
using System.Reflection;

namespace HuatuoAspire.AppHost.FunctionalTests;

/// <summary>Runs the `huatuo` command line the AppHost built (the same build configuration as these tests).</summary>
internal static class HuatuoCommand
{
    public static async Task<string> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var configuration = typeof(HuatuoCommand).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        var dll = Checkout.Path("src", "HuatuoAspire.Cli", "bin", configuration, "net10.0", "huatuo.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var output = await stdout + await stderr;
        if (process.ExitCode != 0) throw new InvalidOperationException($"huatuo {string.Join(' ', args)} exited with {process.ExitCode}: {output}");
        return output;
    }
}
