namespace HuatuoAspire.AppHost;

/// <summary>
/// An external OpenAI-compatible (or Azure OpenAI) endpoint for construction, search and the judge, given as the
/// AppHost parameters <c>llm-url</c>, <c>llm-model</c>, <c>llm-key</c> and <c>llm-kind</c>. Without <c>llm-url</c>
/// the services use the project's own inference service.
/// </summary>
public sealed record LlmEndpointParameters(
    IResourceBuilder<ParameterResource> Url,
    IResourceBuilder<ParameterResource> Model,
    IResourceBuilder<ParameterResource>? Key,
    IResourceBuilder<ParameterResource> Kind)
{
    /// <summary>The name the services know the external endpoint by (<c>Llm:Endpoints:external</c>).</summary>
    public const string EndpointName = "external";
    public static readonly string[] Kinds = ["openai-compatible", "openai", "azure-openai"];
}

public static class LlmEndpointParameterExtensions
{
    /// <summary>The external endpoint's parameters, checked here so a typo is one line at start, not failed runs;
    /// null when <c>llm-url</c> is not set.</summary>
    public static LlmEndpointParameters? AddLlmEndpointParameters(this IDistributedApplicationBuilder builder)
    {
        string? Read(string name) => builder.Configuration[$"Parameters:{name}"] is { Length: > 0 } v ? v.Trim() : null;
        var url = Read("llm-url");
        var model = Read("llm-model");
        var key = Read("llm-key");
        var kind = Read("llm-kind") ?? "openai-compatible";
        if (url is null)
        {
            if (model is not null || key is not null)
                throw new AppHostConfigurationException("Parameters:llm-model or llm-key is set but llm-url is not: set Parameters:llm-url to the endpoint's base URL.");
            return null;
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new AppHostConfigurationException($"Parameters:llm-url must be an absolute http(s) URL, got '{url}'.");
        if (model is null)
            throw new AppHostConfigurationException("Parameters:llm-model is required with llm-url (the model or Azure OpenAI deployment name).");
        if (!LlmEndpointParameters.Kinds.Contains(kind, StringComparer.OrdinalIgnoreCase))
            throw new AppHostConfigurationException($"Parameters:llm-kind must be one of {string.Join(", ", LlmEndpointParameters.Kinds)}, got '{kind}'.");
        if (kind.Equals("azure-openai", StringComparison.OrdinalIgnoreCase) && key is null)
            throw new AppHostConfigurationException("Parameters:llm-key is required with llm-kind azure-openai.");

        return new LlmEndpointParameters(
            builder.AddParameter("llm-url", url).WithDescription("Base URL of the external LLM endpoint (construction, search, judge)."),
            builder.AddParameter("llm-model", model).WithDescription("Model or Azure OpenAI deployment name."),
            key is null ? null : builder.AddParameter("llm-key", key, secret: true),
            builder.AddParameter("llm-kind", kind).WithDescription("openai-compatible, openai or azure-openai."));
    }

    /// <summary>Makes the external endpoint the service's default (<c>Llm:DefaultEndpoint</c>); no-op without one.</summary>
    public static IResourceBuilder<ProjectResource> WithLlmEndpoint(this IResourceBuilder<ProjectResource> service, LlmEndpointParameters? llm)
    {
        if (llm is null) return service;
        const string prefix = "Llm__Endpoints__" + LlmEndpointParameters.EndpointName + "__";
        service.WithEnvironment(prefix + "BaseUrl", llm.Url)
            .WithEnvironment(prefix + "Model", llm.Model)
            .WithEnvironment(prefix + "Kind", llm.Kind)
            .WithEnvironment("Llm__DefaultEndpoint", LlmEndpointParameters.EndpointName);
        if (llm.Key is not null) service.WithEnvironment(prefix + "ApiKey", llm.Key);
        return service;
    }
}

/// <summary>A setting of the AppHost that cannot work; its message is the one line the AppHost prints.</summary>
public sealed class AppHostConfigurationException(string message) : Exception(message);
