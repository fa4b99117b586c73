using System.Text.Json.Nodes;

namespace HuatuoAspire.Infra.FunctionalTests;

/// <summary>
/// Issues 12 and 14 on Azure: the services reach PostgreSQL as a role that may only read and write rows (the owner
/// migrates), blob storage with the managed identity (no storage key in any secret), and the dashboard's shared key
/// ring through a Key Vault certificate.
/// </summary>
public sealed class LeastPrivilegeTests
{
    private static readonly ArmDeployment Plain = new(ArmDeployment.Required);

    [Fact]
    public void OnlyTheMigrationStepUsesTheDatabaseOwnerAndTheServicesConnectAsTheLeastPrivilegeRole()
    {
        foreach (var workload in Plain.Workloads)
        foreach (var container in ArmDeployment.Containers(workload))
        {
            var env = ArmDeployment.Env(container);
            if (!env.TryGetValue("ConnectionStrings__huatuodb", out var database)) continue;
            var migrates = container["args"]?.AsArray().FirstOrDefault()?.GetValue<string>() == "migrate";
            Assert.Equal(migrates ? "huatuodb-owner" : "huatuodb", (string)database["secretRef"]!);
            if (migrates)
            {
                Assert.Equal("huatuo_service", (string)env["Database__ServiceRole"]["value"]!);
                Assert.Equal("postgres-service-password", (string)env["Database__ServiceRolePassword"]["secretRef"]!);
            }
            else Assert.Equal("false", (string)env["Jobs__PrepareSchema"]["value"]!);
        }

        // The services' connection string names the service role; the owner's is a secret of its own.
        var module = Plain.Single("Microsoft.Resources/deployments", "database")["properties"]!["template"]!["resources"]!.AsArray()
            .Select(r => r!.AsObject()).Where(r => (string)r["type"]! == "Microsoft.KeyVault/vaults/secrets").ToList();
        var service = module.Single(r => ((string)r["name"]!).Contains("'huatuodb-connection'"));
        Assert.Contains("parameters('serviceLogin')", (string)service["properties"]!["value"]!);
        Assert.Contains("parameters('servicePassword')", (string)service["properties"]!["value"]!);
        Assert.Single(module, r => ((string)r["name"]!).Contains("'huatuodb-owner-connection'"));

        // The queue scalers count rows as the service role; no app holds the owner's password.
        foreach (var workload in Plain.Workloads)
        {
            Assert.DoesNotContain(workload["properties"]!["configuration"]!["secrets"]!.AsArray(), s => (string)s!["name"]! == "postgres-password");
            foreach (var rule in workload["properties"]!["template"]!["scale"]?["rules"]?.AsArray() ?? [])
                if (rule!["custom"]?["metadata"]?["userName"] is { } user) Assert.Equal("huatuo_service", (string)user!);
        }
    }

    [Fact]
    public void BlobStorageIsReachedWithTheManagedIdentityAndNoStorageKeyIsInAnySecret()
    {
        var secret = Plain.Single("Microsoft.KeyVault/vaults/secrets", "huatuo-kv/blobs-connection");
        var value = (string)secret["properties"]!["value"]!;
        Assert.True(ArmExpression.IsRuntime(value), value);
        Assert.EndsWith(".primaryEndpoints.blob}", value);
        Assert.DoesNotContain("listKeys", value);

        var identity = Assert.Single(Plain.OfType("Microsoft.ManagedIdentity/userAssignedIdentities"));
        foreach (var workload in Plain.Workloads)
        foreach (var container in ArmDeployment.Containers(workload))
        {
            var env = ArmDeployment.Env(container);
            if (!env.ContainsKey("ConnectionStrings__blobs")) continue;
            var clientId = (string)env["AZURE_CLIENT_ID"]["value"]!;
            Assert.True(ArmExpression.IsRuntime(clientId) && clientId.Contains((string)identity["name"]!) && clientId.EndsWith(".clientId}"),
                $"{workload["name"]}/{container["name"]}: AZURE_CLIENT_ID is {clientId}");
        }
    }

    [Fact]
    public void TheDashboardEncryptsItsSharedKeyRingWithTheKeyVaultCertificate()
    {
        var dashboard = Plain.ContainerApps["dashboard"];
        var env = ArmDeployment.Env(ArmDeployment.Containers(dashboard, withInit: false).Single());
        Assert.Equal("data-protection", (string)env["DataProtection__Certificate"]["secretRef"]!);
        var declared = dashboard["properties"]!["configuration"]!["secrets"]!.AsArray().Select(s => s!.AsObject());
        Assert.EndsWith("secrets/data-protection", (string)declared.Single(s => (string)s["name"]! == "data-protection")["keyVaultUrl"]!);
    }
}
