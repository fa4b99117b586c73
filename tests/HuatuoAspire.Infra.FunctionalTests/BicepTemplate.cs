using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Infra.FunctionalTests;

/// <summary>infra/main.bicep compiled and linted once by the real Bicep compiler (Azure.Bicep.CommandLine).</summary>
public static class BicepTemplate
{
    private static readonly Lazy<(string Output, JsonObject Template)> Built = new(Build);
    private static readonly Lazy<(int ExitCode, string Output)> Linted = new(() =>
    {
        var (code, stdout, stderr) = RunBicep("lint", MainBicep);
        return (code, stdout + stderr);
    });

    public static string MainBicep => Checkout.Path("infra", "main.bicep");

    /// <summary>What `bicep build` printed (warnings and errors go to standard error).</summary>
    public static string BuildOutput => Built.Value.Output;
    public static JsonObject Template => Built.Value.Template;
    public static (int ExitCode, string Output) Lint => Linted.Value;

    private static (string, JsonObject) Build()
    {
        var (code, stdout, stderr) = RunBicep("build", MainBicep, "--stdout");
        Assert.True(code == 0, stderr);
        return (stderr, JsonNode.Parse(stdout)!.AsObject());
    }

    private static (int, string, string) RunBicep(params string[] args)
    {
        var bicep = typeof(BicepTemplate).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "BicepPath").Value!;
        var psi = new ProcessStartInfo(bicep, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }
}
