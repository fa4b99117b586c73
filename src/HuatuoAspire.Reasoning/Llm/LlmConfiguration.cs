using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace HuatuoAspire.Reasoning.Llm;

/// <summary>
/// Reads the named endpoints from configuration. The endpoint called "inference" defaults to the project's own
/// inference service, whose address Aspire injects as <c>services__inference__http__0</c>.
/// </summary>
public static class LlmConfiguration
{
    public const string DefaultEndpointName = "inference";

    /// <summary>The endpoint construction, search and the judge use when a run names none: <c>Llm:DefaultEndpoint</c>
    /// (the AppHost sets it when an external endpoint is given), else <see cref="DefaultEndpointName"/>.</summary>
    public static string DefaultEndpoint(IConfiguration configuration) =>
        configuration["Llm:DefaultEndpoint"] is { Length: > 0 } name ? name : DefaultEndpointName;

    /// <summary>The process's endpoints, as the services register them.</summary>
    public static LlmEndpointRegistry CreateRegistry(IConfiguration configuration) =>
        new(ReadEndpoints(configuration).Values, defaultName: DefaultEndpoint(configuration));

    public static IReadOnlyDictionary<string, LlmEndpointOptions> ReadEndpoints(IConfiguration configuration)
    {
        var endpoints = new Dictionary<string, LlmEndpointOptions>(StringComparer.OrdinalIgnoreCase);
        foreach (var section in configuration.GetSection("Llm:Endpoints").GetChildren())
            endpoints[section.Key] = Read(section.Key, section, configuration);

        if (!endpoints.ContainsKey(DefaultEndpointName) && configuration["services:inference:http:0"] is { Length: > 0 } inference)
            endpoints[DefaultEndpointName] = Read(DefaultEndpointName, configuration.GetSection("Llm:Endpoints:" + DefaultEndpointName), configuration);
        return endpoints;
    }

    private static LlmEndpointOptions Read(string name, IConfigurationSection section, IConfiguration root)
    {
        string Where(string key) => $"Llm:Endpoints:{name}:{key}";
        var baseUrl = section["BaseUrl"];
        if (string.IsNullOrWhiteSpace(baseUrl) && name.Equals(DefaultEndpointName, StringComparison.OrdinalIgnoreCase) &&
            root["services:inference:http:0"] is { Length: > 0 } inference)
            baseUrl = inference.TrimEnd('/') + "/v1";
        if (string.IsNullOrWhiteSpace(baseUrl)) throw new LlmConfigurationException($"{Where("BaseUrl")} is required.");
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri))
            throw new LlmConfigurationException($"{Where("BaseUrl")} is not an absolute URL: '{baseUrl}'.");

        var options = new LlmEndpointOptions
        {
            Name = name,
            BaseUrl = uri,
            Model = section["Model"] ?? (name.Equals(DefaultEndpointName, StringComparison.OrdinalIgnoreCase) ? "default" : ""),
            // The project's own inference service: its /v1 key (Inference:ApiKey) when one is set.
            ApiKey = section["ApiKey"] ?? (name.Equals(DefaultEndpointName, StringComparison.OrdinalIgnoreCase) ? root["Inference:ApiKey"] : null),
            Kind = ParseKind(section["Kind"], Where("Kind")),
            MaxConcurrency = Number(section, "MaxConcurrency", 8, Where),
            TimeoutSeconds = Number(section, "TimeoutSeconds", 300.0, Where),
            MaxRetries = Number(section, "MaxRetries", 4, Where),
            RetryBaseDelaySeconds = Number(section, "RetryBaseDelaySeconds", 1.0, Where),
            InputCostPerMTok = Number(section, "InputCostPerMTok", 0m, Where),
            OutputCostPerMTok = Number(section, "OutputCostPerMTok", 0m, Where),
            StructuredOutput = Number(section, "StructuredOutput", true, Where),
        };
        options.Validate();
        return options;
    }

    public static LlmEndpointKind ParseKind(string? text, string where = "Kind") => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "openai-compatible" => LlmEndpointKind.OpenAiCompatible,
        "openai" => LlmEndpointKind.OpenAi,
        "azure-openai" => LlmEndpointKind.AzureOpenAi,
        _ => throw new LlmConfigurationException($"{where} must be openai-compatible, openai or azure-openai, got '{text}'."),
    };

    private static T Number<T>(IConfigurationSection section, string key, T fallback, Func<string, string> where) where T : IParsable<T>
    {
        var text = section[key];
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return T.TryParse(text, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new LlmConfigurationException($"{where(key)} must be a {typeof(T).Name}, got '{text}'.");
    }
}
