using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;

namespace HuatuoAspire.Infra.Tests;

/// <summary>infra/main.bicep compiles with the real Bicep compiler and describes the AppHost's topology.</summary>
public sealed class AzureDeploymentTests
{
    private static readonly Lazy<(string Output, JsonObject Template)> Compiled = new(Compile);

    [Fact]
    public void TheTemplateCompilesWithoutErrorsOrWarnings()
    {
        Assert.DoesNotContain("Error", Compiled.Value.Output);
        Assert.DoesNotContain("Warning", Compiled.Value.Output);
    }

    [Fact]
    public void EveryServiceIsAContainerAppWithHealthProbes()
    {
        var apps = Resources("Microsoft.App/containerApps").ToDictionary(r => (string)r["name"]!);
        Assert.Equal(ServiceNames.All.Order(), apps.Keys.Order());
        foreach (var app in apps.Values)
        {
            var probes = Resolve(app["properties"]!["template"]!["containers"]![0]!["probes"]!).AsArray()
                .Select(p => (string)p!["httpGet"]!["path"]!).ToArray();
            Assert.Equal([Extensions.AlivenessEndpointPath, Extensions.HealthEndpointPath], probes);
        }
    }

    [Fact]
    public void ServicesReceiveTheirConnectionsUnderTheNamesTheAppHostUses()
    {
        foreach (var app in Resources("Microsoft.App/containerApps"))
        {
            var env = Resolve(app["properties"]!["template"]!["containers"]![0]!["env"]!).AsArray()
                .Select(e => (string)e!["name"]!).ToHashSet();
            Assert.Contains($"ConnectionStrings__{ConnectionNames.Database}", env);
            Assert.Contains($"ConnectionStrings__{ConnectionNames.Blobs}", env);
            Assert.Contains($"services__{ConnectionNames.InferenceService}__http__0", env);
        }
    }

    [Fact]
    public void TrainingAndInferenceRunOnTheGpuProfileAndTheTrainerIsSingle()
    {
        var apps = Resources("Microsoft.App/containerApps").ToDictionary(r => (string)r["name"]!);
        Assert.Equal("gpu", (string)apps["trainer"]["properties"]!["workloadProfileName"]!);
        Assert.Equal("gpu", (string)apps["inference"]["properties"]!["workloadProfileName"]!);
        Assert.Equal(1, (int)apps["trainer"]["properties"]!["template"]!["scale"]!["maxReplicas"]!);
    }

    [Fact]
    public void MigrationsRunAsAJobOfTheCommandLineProgram()
    {
        var job = Assert.Single(Resources("Microsoft.App/jobs"));
        var container = job["properties"]!["template"]!["containers"]![0]!;
        Assert.Equal("migrate", (string)container["args"]![0]!);
        Assert.Contains("huatuo-cli", (string)container["image"]!);
    }

    private static IEnumerable<JsonObject> Resources(string type) =>
        Compiled.Value.Template["resources"]!.AsArray().Select(r => r!.AsObject()).Where(r => (string)r["type"]! == type);

    /// <summary>Bicep compiles a shared variable to an ARM expression "[variables('name')]": look it up.</summary>
    private static JsonNode Resolve(JsonNode node)
    {
        if (node is JsonValue v && v.TryGetValue<string>(out var text) && text.StartsWith("[variables('", StringComparison.Ordinal))
        {
            var name = text["[variables('".Length..text.IndexOf("')", StringComparison.Ordinal)];
            return Compiled.Value.Template["variables"]![name]!;
        }
        return node;
    }

    private static (string, JsonObject) Compile()
    {
        var bicep = typeof(AzureDeploymentTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "BicepPath").Value!;
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "HuatuoAspire.sln"))) root = Path.GetDirectoryName(root)!;
        var psi = new ProcessStartInfo(bicep, ["build", Path.Combine(root, "infra", "main.bicep"), "--stdout"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, stderr);
        return (stderr, JsonNode.Parse(stdout.Result)!.AsObject());
    }
}
