using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using System.Xml.Linq;

namespace HuatuoAspire.Infra.FunctionalTests;

/// <summary>
/// A container of the deployment run as the image would run it, without Docker: the built output of the project whose
/// <c>ContainerRepository</c> is the image's repository, started with the container's args and exactly the environment
/// the template gives it. Secrets come from <paramref name="secrets"/> (in Azure: Key Vault), paths under the
/// <c>/data</c> share from a local folder, and <c>ASPNETCORE_URLS</c> stands in for the base image's port 8080.
/// </summary>
public sealed class DeployedContainer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private DeployedContainer(Process process) => _process = process;

    public string Output { get { lock (_output) return _output.ToString(); } }

    public static DeployedContainer Start(JsonObject container, IReadOnlyDictionary<string, string> secrets, string dataFolder, string? urls = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(EntryAssembly((string)container["image"]!));
        foreach (var arg in container["args"]?.AsArray() ?? []) psi.ArgumentList.Add(MapData((string)arg!, dataFolder));

        // Only what the template sets: nothing of this machine's configuration leaks in.
        foreach (var key in psi.Environment.Keys.ToList())
            if (key.Contains("__", StringComparison.Ordinal) || key.StartsWith("ASPNETCORE_", StringComparison.Ordinal) ||
                key.StartsWith("DOTNET_ENVIRONMENT", StringComparison.Ordinal) || key.StartsWith("OTEL_", StringComparison.Ordinal))
                psi.Environment.Remove(key);
        foreach (var variable in container["env"]?.AsArray() ?? [])
        {
            var name = (string)variable!["name"]!;
            psi.Environment[name] = variable["secretRef"] is { } secretRef
                ? secrets.TryGetValue((string)secretRef!, out var secret) ? secret : throw new KeyNotFoundException($"No local value for secret {secretRef}.")
                : MapData((string)variable["value"]!, dataFolder);
        }
        if (urls is not null) psi.Environment["ASPNETCORE_URLS"] = urls;

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var started = new DeployedContainer(process);
        process.OutputDataReceived += (_, e) => started.Append(e.Data);
        process.ErrorDataReceived += (_, e) => started.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return started;
    }

    /// <summary>Runs an init container (or a job) to completion and returns its exit code.</summary>
    public static async Task<(int ExitCode, string Output)> RunToCompletionAsync(JsonObject container, IReadOnlyDictionary<string, string> secrets,
        string dataFolder, TimeSpan timeout)
    {
        await using var run = Start(container, secrets, dataFolder);
        using var cts = new CancellationTokenSource(timeout);
        await run._process.WaitForExitAsync(cts.Token);
        run._process.WaitForExit();
        return (run._process.ExitCode, run.Output);
    }

    public bool HasExited => _process.HasExited;

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    private static string MapData(string value, string dataFolder) =>
        value == "/data" || value.StartsWith("/data/", StringComparison.Ordinal) ? dataFolder + value["/data".Length..] : value;

    /// <summary>".../huatuo-workers:tag" → src/HuatuoAspire.Workers/bin/{Configuration}/net10.0/HuatuoAspire.Workers.dll.</summary>
    public static string EntryAssembly(string image)
    {
        var repository = image[(image.LastIndexOf('/') + 1)..image.LastIndexOf(':')];
        var configuration = typeof(DeployedContainer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "Configuration").Value!;
        foreach (var project in Directory.EnumerateFiles(Checkout.Path("src"), "*.csproj", SearchOption.AllDirectories))
        {
            var xml = XDocument.Load(project);
            if (xml.Descendants("ContainerRepository").FirstOrDefault()?.Value != repository) continue;
            var assembly = xml.Descendants("AssemblyName").FirstOrDefault()?.Value ?? Path.GetFileNameWithoutExtension(project);
            var dll = Path.Combine(Path.GetDirectoryName(project)!, "bin", configuration, "net10.0", assembly + ".dll");
            Assert.True(File.Exists(dll), $"{dll} is not built (the test project builds it through a project reference).");
            return dll;
        }
        throw new InvalidOperationException($"No project in src/ publishes the image repository '{repository}'.");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
