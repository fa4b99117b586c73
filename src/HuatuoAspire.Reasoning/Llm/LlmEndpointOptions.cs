namespace HuatuoAspire.Reasoning.Llm;

public enum LlmEndpointKind
{
    /// <summary>Any server speaking the OpenAI chat API under a base URL (our inference service, vLLM, Ollama's /v1, llama.cpp).</summary>
    OpenAiCompatible,
    OpenAi,
    /// <summary>Azure OpenAI: deployments under {BaseUrl}/openai/deployments/{Model}, api-key header, api-version query.</summary>
    AzureOpenAi,
}

/// <summary>One named LLM endpoint (configuration section <c>Llm:Endpoints:&lt;name&gt;</c>).</summary>
public sealed record LlmEndpointOptions
{
    public required string Name { get; init; }
    public required Uri BaseUrl { get; init; }
    public required string Model { get; init; }
    public string? ApiKey { get; init; }
    public LlmEndpointKind Kind { get; init; } = LlmEndpointKind.OpenAiCompatible;
    public int MaxConcurrency { get; init; } = 8;
    public double TimeoutSeconds { get; init; } = 300;
    public int MaxRetries { get; init; } = 4;
    /// <summary>First back-off delay; doubles per retry with jitter, unless the server sends Retry-After.</summary>
    public double RetryBaseDelaySeconds { get; init; } = 1;
    public decimal InputCostPerMTok { get; init; }
    public decimal OutputCostPerMTok { get; init; }
    /// <summary>Send a JSON-schema response_format; turned off for the endpoint when the server rejects it.</summary>
    public bool StructuredOutput { get; init; } = true;
    public string AzureApiVersion { get; init; } = "2024-10-21";
    public int? MaxTokens { get; init; }
    public double? Temperature { get; init; }

    public decimal CostOf(long inputTokens, long outputTokens) =>
        (inputTokens * InputCostPerMTok + outputTokens * OutputCostPerMTok) / 1_000_000m;

    public void Validate()
    {
        string Where(string key) => $"Llm:Endpoints:{Name}:{key}";
        if (!BaseUrl.IsAbsoluteUri || (BaseUrl.Scheme != Uri.UriSchemeHttp && BaseUrl.Scheme != Uri.UriSchemeHttps))
            throw new LlmConfigurationException($"{Where("BaseUrl")} must be an absolute http(s) URL, got '{BaseUrl}'.");
        if (string.IsNullOrWhiteSpace(Model)) throw new LlmConfigurationException($"{Where("Model")} is required.");
        if (MaxConcurrency < 1) throw new LlmConfigurationException($"{Where("MaxConcurrency")} must be at least 1, got {MaxConcurrency}.");
        if (TimeoutSeconds <= 0) throw new LlmConfigurationException($"{Where("TimeoutSeconds")} must be positive, got {TimeoutSeconds}.");
        if (MaxRetries < 0) throw new LlmConfigurationException($"{Where("MaxRetries")} must not be negative, got {MaxRetries}.");
        if (Kind == LlmEndpointKind.AzureOpenAi && string.IsNullOrWhiteSpace(ApiKey))
            throw new LlmConfigurationException($"{Where("ApiKey")} is required for Kind=azure-openai.");
    }
}

public sealed class LlmConfigurationException(string message) : Exception(message);
