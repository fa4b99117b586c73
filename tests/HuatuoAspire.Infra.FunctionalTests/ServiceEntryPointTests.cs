using System.Net;
using System.Text.Json.Nodes;
using HuatuoAspire.Data;
using HuatuoAspire.LocalServers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace HuatuoAspire.Infra.FunctionalTests;

/// <summary>
/// Real PostgreSQL and Azurite standing in for Azure's, a tiny model uploaded with `huatuo upload model` as the
/// deployer would upload a real one, and the secrets the services get from Key Vault in Azure.
/// </summary>
public sealed class DeployedEnvironmentFixture : IAsyncLifetime
{
    public const string ModelPrefix = "models/tiny";
    // Not CreateTempSubdirectory: its folder is private to its owner, and PostgreSQL runs as the postgres user.
    public string Folder { get; } = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"huatuo-infra-entry-{Guid.NewGuid():N}")).FullName;
    public string DataShare => Path.Combine(Folder, "share");
    public LocalInfrastructure Infrastructure { get; private set; } = null!;
    public IReadOnlyDictionary<string, string> Secrets { get; private set; } = null!;

    /// <summary>The deployment with an external LLM (key in Key Vault) and the uploaded model to serve.</summary>
    public ArmDeployment Deployment { get; } = new(new Dictionary<string, JsonNode?>(ArmDeployment.RealModels)
    {
        ["inferenceModelBlobPrefix"] = ModelPrefix,
    });

    public async Task InitializeAsync()
    {
        Infrastructure = await LocalInfrastructure.StartAsync(Folder, "huatuodb", null, null);
        try
        {
            await PrepareAsync();
        }
        catch
        {
            // xunit does not dispose a fixture whose start failed: stop the servers here.
            await DisposeAsync();
            throw;
        }
    }

    private async Task PrepareAsync()
    {
        // As in Key Vault: the owner's connection for `huatuo migrate`, the services' role (which migrate creates) for the
        // apps, and the certificate that encrypts the dashboard's key ring (a Key Vault certificate's secret: its PFX).
        const string servicePassword = "entry-point-service-pw";
        var certificate = Path.Combine(Folder, "data-protection.pfx");
        using (HuatuoDataProtection.LoadCertificate(new ConfigurationBuilder()
                   .AddInMemoryCollection([new("DataProtection:CertificatePath", certificate)]).Build())) { }
        Secrets = new Dictionary<string, string>
        {
            ["huatuodb"] = DatabaseRoles.ConnectionStringFor(Infrastructure.DatabaseConnectionString, "huatuo_service", servicePassword),
            ["huatuodb-owner"] = Infrastructure.DatabaseConnectionString,
            ["postgres-service-password"] = servicePassword,
            ["data-protection"] = Convert.ToBase64String(await File.ReadAllBytesAsync(certificate)),
            ["blobs"] = Infrastructure.BlobConnectionString,
            ["admin-password"] = "entry-point-test-admin",
            ["llm-api-key"] = "entry-point-test-key",
        };
        var cli = DeployedContainer.EntryAssembly("registry/huatuo-cli:local");
        var model = Path.Combine(Folder, "tiny");
        await RunCliAsync(cli, "model", "init", "--arch", "llama", "--preset", "tiny", "--tokenizer", "byte", "--out", model);
        await RunCliAsync(cli, "upload", "model", "--from", model, "--to", "blob:" + ModelPrefix, "--blobs", Infrastructure.BlobConnectionString);
    }

    private async Task RunCliAsync(string cli, params string[] args)
    {
        var container = new JsonObject { ["image"] = "registry/huatuo-cli:local", ["args"] = new JsonArray(args.Select(a => (JsonNode?)a).ToArray()) };
        var (code, output) = await DeployedContainer.RunToCompletionAsync(container, Secrets, DataShare, TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"huatuo {string.Join(' ', args)} exited {code}:\n{output}");
    }

    public async Task DisposeAsync()
    {
        await Infrastructure.DisposeAsync();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// The issue's "the container images' entry points start": each app of the compiled deployment runs its init
/// containers to completion and then its main container with exactly the environment the template gives it, until
/// its own /health answers 200. Images cannot be built here (no Docker daemon, no base images), so the built output
/// of the project each image is published from runs instead.
/// </summary>
public sealed class ServiceEntryPointTests(DeployedEnvironmentFixture fixture) : IClassFixture<DeployedEnvironmentFixture>
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public Task TheWorkersStartWithTheirDeployedEnvironmentAfterMigratingTheDatabase() => StartsHealthy(ServiceNames.Workers);

    [Fact]
    public Task TheTrainerStartsWithItsDeployedEnvironment() => StartsHealthy(ServiceNames.Trainer);

    [Fact]
    public Task TheDashboardStartsWithItsDeployedEnvironment() => StartsHealthy(ServiceNames.Dashboard);

    [Fact]
    public async Task TheInferenceServiceServesTheModelItsInitContainerDownloadedFromBlobStorage()
    {
        await StartsHealthy(ServiceNames.Inference, async client =>
        {
            var models = await client.GetStringAsync("/v1/models");
            Assert.Contains("\"tiny\"", models);
        });
        Assert.True(File.Exists(Path.Combine(fixture.DataShare, "models", "served", "tiny", "config.json")));
    }

    [Fact]
    public async Task TheModelDownloadKeepsAFolderThatAlreadyHoldsTheSameBlobs()
    {
        var fetch = ArmDeployment.Containers(fixture.Deployment.ContainerApps[ServiceNames.Inference])
            .Single(c => (string)c["name"]! == "fetch-model");
        var first = await DeployedContainer.RunToCompletionAsync(fetch, fixture.Secrets, fixture.DataShare, StartTimeout);
        Assert.True(first.ExitCode == 0, first.Output);
        var second = await DeployedContainer.RunToCompletionAsync(fetch, fixture.Secrets, fixture.DataShare, StartTimeout);
        Assert.True(second.ExitCode == 0, second.Output);
        Assert.Contains("kept", second.Output);
    }

    private async Task StartsHealthy(string app, Func<HttpClient, Task>? then = null)
    {
        var workload = fixture.Deployment.ContainerApps[app];
        foreach (var init in workload["properties"]!["template"]!["initContainers"]!.AsArray())
        {
            var (code, output) = await DeployedContainer.RunToCompletionAsync(init!.AsObject(), fixture.Secrets, fixture.DataShare, StartTimeout);
            Assert.True(code == 0, $"{app}: init container {init["name"]} exited {code}:\n{output}");
        }
        var port = FreePort.Pick();
        var main = ArmDeployment.Containers(workload, withInit: false).Single();
        await using var container = DeployedContainer.Start(main, fixture.Secrets, fixture.DataShare, $"http://127.0.0.1:{port}");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var (status, body) = await WaitForHealthAsync(client, container);
        Assert.True(status == HttpStatusCode.OK, $"{app}: /health answered {status} {body}\n{container.Output}");
        if (then is not null) await then(client);
    }

    /// <summary>Polls /health until it answers 200, the process exits, or the start timeout passes.</summary>
    private static Task<(HttpStatusCode? Status, string Body)> WaitForHealthAsync(HttpClient client, DeployedContainer container)
    {
        async Task<(HttpStatusCode? Status, string Body)> ReadAsync()
        {
            try
            {
                using var response = await client.GetAsync("/health");
                return (response.StatusCode, await response.Content.ReadAsStringAsync());
            }
            catch (HttpRequestException e)
            {
                return (null, e.Message);
            }
        }
        return Eventually.ReachesAsync(ReadAsync, last => last.Status == HttpStatusCode.OK || container.HasExited, StartTimeout,
            "/health to answer 200 (or the process to exit)", detail: () => container.Output);
    }
}
