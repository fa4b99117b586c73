using System.Text.Json.Nodes;

namespace HuatuoAspire.Infra.FunctionalTests;

/// <summary>
/// The resources the compiled template creates for one set of parameter values, every expression evaluated
/// (<see cref="ArmExpression"/>): what `az deployment group what-if` would list, read without Azure.
/// </summary>
public sealed class ArmDeployment
{
    /// <summary>The parameters a deployer must give (README, "Deploy to Azure Container Apps").</summary>
    public static readonly IReadOnlyDictionary<string, JsonNode?> Required = new Dictionary<string, JsonNode?>
    {
        ["registryName"] = "huatuoacr",
        ["imageTag"] = "3f2a9c1",
        ["keyVaultName"] = "huatuo-kv",
    };

    /// <summary>The real models: an Azure OpenAI deployment for construction, search and the judge, and a model to serve.</summary>
    public static readonly IReadOnlyDictionary<string, JsonNode?> RealModels = new Dictionary<string, JsonNode?>(Required)
    {
        ["llmUrl"] = "https://contoso.openai.azure.com/",
        ["llmModel"] = "gpt-4o",
        ["llmKind"] = "azure-openai",
        ["inferenceModelBlobPrefix"] = "models/huatuogpt-o1-8b",
    };

    public ArmDeployment(IReadOnlyDictionary<string, JsonNode?> parameters)
    {
        Expression = new ArmExpression(BicepTemplate.Template, parameters);
        var resources = BicepTemplate.Template["resources"]!;
        var all = resources is JsonArray list ? list.Select(r => r!.AsObject()) : resources.AsObject().Select(p => p.Value!.AsObject());
        Resources = all
            .Where(r => r["condition"] is null || Expression.Evaluate(r["condition"])!.GetValue<bool>())
            .Select(r => r["type"]!.GetValue<string>() == "Microsoft.Resources/deployments"
                // A module's own template refers to its own parameters: kept as compiled.
                ? new JsonObject { ["type"] = r["type"]!.DeepClone(), ["name"] = Expression.Evaluate(r["name"]), ["properties"] = r["properties"]!.DeepClone() }
                : Expression.Evaluate(r)!.AsObject())
            .ToList();
    }

    public ArmExpression Expression { get; }
    public IReadOnlyList<JsonObject> Resources { get; }

    public IEnumerable<JsonObject> OfType(string type) => Resources.Where(r => (string)r["type"]! == type);

    public JsonObject Single(string type, string name) => OfType(type).Single(r => (string)r["name"]! == name);

    public IReadOnlyDictionary<string, JsonObject> ContainerApps => OfType("Microsoft.App/containerApps").ToDictionary(r => (string)r["name"]!);

    /// <summary>The apps and the jobs: everything that runs a container.</summary>
    public IEnumerable<JsonObject> Workloads => OfType("Microsoft.App/containerApps").Concat(OfType("Microsoft.App/jobs"));

    public static IEnumerable<JsonObject> Containers(JsonObject workload, bool withInit = true)
    {
        var template = workload["properties"]!["template"]!;
        var init = withInit && template["initContainers"] is JsonArray i ? i.Select(c => c!.AsObject()) : [];
        return template["containers"]!.AsArray().Select(c => c!.AsObject()).Concat(init);
    }

    public static IReadOnlyDictionary<string, JsonObject> Env(JsonObject container) =>
        (container["env"] as JsonArray ?? []).Select(e => e!.AsObject()).ToDictionary(e => (string)e["name"]!);
}
