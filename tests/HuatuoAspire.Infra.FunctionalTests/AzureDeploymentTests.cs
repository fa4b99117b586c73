using System.Text.Json.Nodes;
using HuatuoAspire.Data.Jobs;
using Microsoft.Extensions.Hosting;

namespace HuatuoAspire.Infra.FunctionalTests;

/// <summary>
/// infra/main.bicep as Azure would deploy it: compiled and linted by the real Bicep compiler, then every expression of
/// the ARM JSON evaluated for the deployer's parameters (`az deployment group what-if` needs Azure; this replaces it).
/// </summary>
public sealed class AzureDeploymentTests
{
    private static readonly ArmDeployment Plain = new(ArmDeployment.Required);
    private static readonly ArmDeployment RealModels = new(ArmDeployment.RealModels);
    private static readonly ArmDeployment[] Both = [Plain, RealModels];

    [Fact]
    public void TheTemplateBuildsAndLintsWithoutErrorsOrWarnings()
    {
        Assert.DoesNotContain("Error", BicepTemplate.BuildOutput);
        Assert.DoesNotContain("Warning", BicepTemplate.BuildOutput);
        var (code, output) = BicepTemplate.Lint;
        Assert.True(code == 0 && !output.Contains("Warning") && !output.Contains("Error"), output);
    }

    [Fact]
    public void EveryServiceIsAContainerAppWithHealthProbes()
    {
        var apps = Plain.ContainerApps;
        Assert.Equal(ServiceNames.All.Order(), apps.Keys.Order());
        foreach (var app in apps.Values)
        {
            var probes = ArmDeployment.Containers(app, withInit: false).Single()["probes"]!.AsArray()
                .Select(p => (string)p!["httpGet"]!["path"]!).ToArray();
            Assert.Equal([Extensions.AlivenessEndpointPath, Extensions.HealthEndpointPath], probes);
        }
    }

    [Fact]
    public void EverySecretIsAKeyVaultReferenceReadWithTheManagedIdentity()
    {
        foreach (var deployment in Both)
        {
            var identity = IdentityId(deployment);
            foreach (var workload in deployment.Workloads)
            {
                var secrets = workload["properties"]!["configuration"]!["secrets"]!.AsArray().Select(s => s!.AsObject()).ToList();
                Assert.NotEmpty(secrets);
                foreach (var secret in secrets)
                {
                    Assert.False(secret.ContainsKey("value"), $"{workload["name"]}: secret {secret["name"]} has a value in the template");
                    Assert.StartsWith("{runtime:reference(", (string)secret["keyVaultUrl"]!);
                    Assert.Contains("secrets/", (string)secret["keyVaultUrl"]!);
                    Assert.Equal(identity, (string)secret["identity"]!);
                }
                var user = workload["identity"]!["userAssignedIdentities"]!.AsObject();
                Assert.Equal([identity], user.Select(p => p.Key));
            }
        }
    }

    [Fact]
    public void NoEnvironmentVariableCarriesAPasswordOrKeyInPlainText()
    {
        foreach (var deployment in Both)
        foreach (var workload in deployment.Workloads)
        {
            var declared = workload["properties"]!["configuration"]!["secrets"]!.AsArray().Select(s => (string)s!["name"]!).ToHashSet();
            foreach (var container in ArmDeployment.Containers(workload))
            foreach (var (name, variable) in ArmDeployment.Env(container))
            {
                var where = $"{workload["name"]}/{container["name"]}: {name}";
                if (name.StartsWith("ConnectionStrings__", StringComparison.Ordinal) || name.EndsWith("Password", StringComparison.Ordinal) || name.EndsWith("ApiKey", StringComparison.Ordinal))
                {
                    Assert.False(variable.ContainsKey("value"), where + " has a plain value");
                    Assert.Contains((string)variable["secretRef"]!, declared);
                }
                else if (variable["secretRef"] is { } secretRef) Assert.Contains((string)secretRef!, declared);
                else
                {
                    var value = (string)variable["value"]!;
                    Assert.DoesNotContain("Password=", value, StringComparison.OrdinalIgnoreCase);
                    Assert.DoesNotContain("AccountKey=", value, StringComparison.OrdinalIgnoreCase);
                }
            }
            foreach (var rule in Rules(workload))
            foreach (var auth in rule["custom"]?["auth"]?.AsArray() ?? [])
                Assert.Contains((string)auth!["secretRef"]!, declared);
        }
    }

    [Fact]
    public void OnlyTheTrainerAndTheInferenceServiceRunOnTheGpuProfile()
    {
        foreach (var workload in Plain.Workloads)
        {
            var name = (string)workload["name"]!;
            var profile = (string)workload["properties"]!["workloadProfileName"]!;
            Assert.Equal(name is ServiceNames.Trainer or ServiceNames.Inference ? "gpu" : "Consumption", profile);
        }
        var environment = Assert.Single(Plain.OfType("Microsoft.App/managedEnvironments"));
        var gpu = environment["properties"]!["workloadProfiles"]!.AsArray().Single(p => (string)p!["name"]! == "gpu")!;
        Assert.StartsWith("Consumption-GPU-", (string)gpu["workloadProfileType"]!);
    }

    [Fact]
    public void TheTrainerScalesToZeroAndWakesOnItsHangfireTrainingQueue()
    {
        var scale = Plain.ContainerApps[ServiceNames.Trainer]["properties"]!["template"]!["scale"]!;
        Assert.Equal(0, (int)scale["minReplicas"]!);
        Assert.Equal(1, (int)scale["maxReplicas"]!);
        var rule = QueueRule(Plain.ContainerApps[ServiceNames.Trainer], HuatuoJobStorage.Queues.Training);
        Assert.Equal("1", (string)rule["targetQueryValue"]!);
        Assert.Equal("0", (string)rule["activationTargetQueryValue"]!);
    }

    [Fact]
    public void WorkersScaleOnTheDepthOfEachOfTheirQueues()
    {
        var workers = Plain.ContainerApps[ServiceNames.Workers];
        foreach (var queue in new[] { HuatuoJobStorage.Queues.Construction, HuatuoJobStorage.Queues.Search, HuatuoJobStorage.Queues.Evaluation })
            Assert.Equal("16", (string)QueueRule(workers, queue)["targetQueryValue"]!);
        var scale = workers["properties"]!["template"]!["scale"]!;
        Assert.Equal(1, (int)scale["minReplicas"]!);
        Assert.Equal(8, (int)scale["maxReplicas"]!);
    }

    [Fact]
    public void TheInferenceServiceHasConfigurableMinReplicasAndScalesOnHttpRequests()
    {
        var scale = Plain.ContainerApps[ServiceNames.Inference]["properties"]!["template"]!["scale"]!;
        Assert.Equal(0, (int)scale["minReplicas"]!);
        Assert.Equal("16", (string)scale["rules"]![0]!["http"]!["metadata"]!["concurrentRequests"]!);
        var warm = new ArmDeployment(new Dictionary<string, JsonNode?>(ArmDeployment.Required) { ["inferenceMinReplicas"] = 1 });
        Assert.Equal(1, (int)warm.ContainerApps[ServiceNames.Inference]["properties"]!["template"]!["scale"]!["minReplicas"]!);
    }

    [Fact]
    public void TheDashboardRunsUpToTwoReplicasAndKeepsABrowserOnOne()
    {
        var dashboard = Plain.ContainerApps[ServiceNames.Dashboard]["properties"]!;
        Assert.Equal(2, (int)dashboard["template"]!["scale"]!["maxReplicas"]!);
        Assert.Equal("sticky", (string)dashboard["configuration"]!["ingress"]!["stickySessions"]!["affinity"]!);
        Assert.True((bool)dashboard["configuration"]!["ingress"]!["external"]!);
        foreach (var other in Plain.ContainerApps.Values.Where(a => (string)a["name"]! != ServiceNames.Dashboard))
            Assert.False((bool)other["properties"]!["configuration"]!["ingress"]!["external"]!);
    }

    [Fact]
    public void EveryWorkloadPullsItsImagesWithTheIdentityThatHoldsAcrPull()
    {
        var identity = IdentityId(Plain);
        foreach (var workload in Plain.Workloads)
        {
            var registry = Assert.Single(workload["properties"]!["configuration"]!["registries"]!.AsArray())!;
            Assert.Equal(identity, (string)registry["identity"]!);
            foreach (var container in ArmDeployment.Containers(workload))
                Assert.EndsWith(":3f2a9c1", (string)container["image"]!);
        }
        var roles = Plain.OfType("Microsoft.Authorization/roleAssignments")
            .Select(r => ((string)r["properties"]!["roleDefinitionId"]!).Split('/')[^1]).ToHashSet();
        Assert.Contains("7f951dda-4ed3-4680-a7ca-43fe172d538d", roles); // AcrPull
        Assert.Contains("ba92f5b4-2d11-453d-a403-e96b0029c9fe", roles); // Storage Blob Data Contributor
        Assert.Contains("4633458b-17de-408a-b874-0445c86b69e6", roles); // Key Vault Secrets User
    }

    [Fact]
    public void EveryAppThatUsesTheDatabaseMigratesItInAnInitContainerBeforeStarting()
    {
        foreach (var app in new[] { ServiceNames.Workers, ServiceNames.Trainer, ServiceNames.Dashboard })
        {
            var init = Assert.Single(Plain.ContainerApps[app]["properties"]!["template"]!["initContainers"]!.AsArray())!;
            Assert.Equal(["migrate"], init["args"]!.AsArray().Select(a => (string)a!));
            Assert.Contains("/huatuo-cli:", (string)init["image"]!);
        }
        Assert.Empty(Plain.ContainerApps[ServiceNames.Inference]["properties"]!["template"]!["initContainers"]!.AsArray());
        var job = Assert.Single(Plain.OfType("Microsoft.App/jobs"));
        Assert.Equal("migrate", (string)ArmDeployment.Containers(job).Single()["args"]![0]!);
    }

    [Fact]
    public void TheModelToServeIsDownloadedFromItsBlobPrefixBeforeTheInferenceServiceStarts()
    {
        var template = RealModels.ContainerApps[ServiceNames.Inference]["properties"]!["template"]!;
        var fetch = Assert.Single(template["initContainers"]!.AsArray())!;
        Assert.Equal(["download", "model", "--from", "blob:models/huatuogpt-o1-8b", "--to", "/data/models/served/huatuogpt-o1-8b"],
            fetch["args"]!.AsArray().Select(a => (string)a!));
        var env = ArmDeployment.Env(template["containers"]![0]!.AsObject());
        Assert.Equal("/data/models/served/huatuogpt-o1-8b", (string)env["Inference__ModelPath"]["value"]!);
        Assert.Equal("huatuogpt-o1-8b", (string)env["Inference__ModelId"]["value"]!);
        Assert.Equal("/data", (string)template["containers"]![0]!["volumeMounts"]![0]!["mountPath"]!);
    }

    [Fact]
    public void EveryConfigurationNameAServiceReadsIsSetOnTheAppThatReadsIt()
    {
        // Read from src/ (IConfiguration reads and options sections) and the AppHost's WithEnvironment/WithReference.
        string[] database = ["ConnectionStrings__huatuodb", "Jobs__InvisibilityTimeoutSeconds", "Jobs__PrepareSchema"];
        string[] blobs = ["ConnectionStrings__blobs", "AZURE_CLIENT_ID"];
        string[] llm = ["Llm__Endpoints__external__BaseUrl", "Llm__Endpoints__external__Model", "Llm__Endpoints__external__Kind",
            "Llm__Endpoints__external__ApiKey", "Llm__Endpoints__external__MaxConcurrency", "Llm__DefaultEndpoint"];
        var expected = new Dictionary<string, string[]>
        {
            [ServiceNames.Inference] = [.. blobs, "Admin__Password", "Inference__DefaultModelDir", "Inference__CheckpointCacheDir",
                "Inference__ModelPath", "Inference__ModelId"],
            [ServiceNames.Workers] = [.. database, .. blobs, "Admin__Password", "services__inference__http__0", .. llm, "Workers__Parallelism"],
            [ServiceNames.Trainer] = [.. database, .. blobs, "Admin__Password", "services__inference__http__0", .. llm, "Trainer__WorkDirectory"],
            [ServiceNames.Dashboard] = [.. database, .. blobs, "Admin__Password",
                "services__inference__http__0", "services__workers__http__0", "services__trainer__http__0", "DataProtection__Certificate"],
        };
        foreach (var (app, names) in expected)
        {
            var env = ArmDeployment.Env(ArmDeployment.Containers(RealModels.ContainerApps[app], withInit: false).Single());
            Assert.Equal(names.Order(), env.Keys.Order());
        }
        Assert.Equal("external", (string)ArmDeployment.Env(ArmDeployment.Containers(RealModels.ContainerApps[ServiceNames.Workers], false).Single())["Llm__DefaultEndpoint"]["value"]!);

        // Without an external endpoint the services use the project's own inference service: no Llm__ name at all
        // (an endpoint without a BaseUrl is an error at start).
        foreach (var app in Plain.ContainerApps.Values)
            Assert.DoesNotContain(ArmDeployment.Env(ArmDeployment.Containers(app, false).Single()).Keys, n => n.StartsWith("Llm__", StringComparison.Ordinal));
        Assert.DoesNotContain("Inference__ModelPath", ArmDeployment.Env(ArmDeployment.Containers(Plain.ContainerApps[ServiceNames.Inference], false).Single()).Keys);
    }

    [Fact]
    public void PostgreSqlIsReachableOnlyFromTheVirtualNetworkOfTheEnvironment()
    {
        var json = BicepTemplate.Template.ToJsonString();
        Assert.DoesNotContain("firewallRules", json);
        var module = Plain.Single("Microsoft.Resources/deployments", "database")["properties"]!["template"]!["resources"]!.AsArray();
        var server = module.Single(r => (string)r!["type"]! == "Microsoft.DBforPostgreSQL/flexibleServers")!;
        var network = server["properties"]!["network"]!;
        Assert.Equal("Disabled", (string)network["publicNetworkAccess"]!);
        Assert.NotNull(network["delegatedSubnetResourceId"]);
        Assert.NotNull(network["privateDnsZoneArmResourceId"]);

        var vnet = Assert.Single(Plain.OfType("Microsoft.Network/virtualNetworks"));
        var delegations = vnet["properties"]!["subnets"]!.AsArray()
            .Select(s => (string)s!["properties"]!["delegations"]![0]!["properties"]!["serviceName"]!).ToArray();
        Assert.Equal(["Microsoft.App/environments", "Microsoft.DBforPostgreSQL/flexibleServers"], delegations);
        var environment = Assert.Single(Plain.OfType("Microsoft.App/managedEnvironments"));
        Assert.EndsWith("/subnets/apps", (string)environment["properties"]!["vnetConfiguration"]!["infrastructureSubnetId"]!);
        Assert.EndsWith(".private.postgres.database.azure.com", (string)Assert.Single(Plain.OfType("Microsoft.Network/privateDnsZones"))["name"]!);
    }

    private static string IdentityId(ArmDeployment deployment) =>
        $"{ArmExpression.ResourceGroupId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{(string)Assert.Single(deployment.OfType("Microsoft.ManagedIdentity/userAssignedIdentities"))["name"]!}";

    private static IEnumerable<JsonObject> Rules(JsonObject workload) =>
        workload["properties"]!["template"]!["scale"]?["rules"]?.AsArray().Select(r => r!.AsObject()) ?? [];

    /// <summary>The KEDA postgresql rule counting the queue's rows in Hangfire's job-queue table.</summary>
    private static JsonObject QueueRule(JsonObject app, string queue)
    {
        var rule = Rules(app).Single(r => (string)r["name"]! == $"queue-{queue}")["custom"]!;
        Assert.Equal("postgresql", (string)rule["type"]!);
        Assert.Equal("password", (string)rule["auth"]![0]!["triggerParameter"]!);
        var metadata = rule["metadata"]!.AsObject();
        Assert.Equal($"SELECT COUNT(*) FROM {HuatuoJobStorage.Schema}.jobqueue WHERE queue = '{queue}'", (string)metadata["query"]!);
        Assert.Equal("huatuodb", (string)metadata["dbName"]!);
        Assert.Equal("require", (string)metadata["sslmode"]!);
        Assert.True(ArmExpression.IsRuntime((string)metadata["host"]!));
        return metadata;
    }
}
