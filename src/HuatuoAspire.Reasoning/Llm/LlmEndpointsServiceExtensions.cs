using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace HuatuoAspire.Reasoning.Llm;

/// <summary>The one registration of the named LLM endpoints, used by the workers, the trainer and <c>huatuo up</c>.</summary>
public static class LlmEndpointsServiceExtensions
{
    /// <summary>
    /// Registers the process's <see cref="LlmEndpointRegistry"/> (<c>Llm:Endpoints:&lt;name&gt;</c>, the inference service
    /// by default), read once from configuration. A single instance per process, so that each endpoint's concurrency
    /// limit and usage ledger hold across every job, whichever service registers it first.
    /// </summary>
    public static IServiceCollection AddLlmEndpoints(this IServiceCollection services)
    {
        services.TryAddSingleton(sp => LlmConfiguration.CreateRegistry(sp.GetRequiredService<IConfiguration>()));
        // Reading the endpoints can fail on a misconfigured one: a service that needs them on some paths only (the
        // trainer, for an LLM-judge verifier) takes them lazily, so its other work does not fail with them.
        services.TryAddTransient(sp => new Lazy<LlmEndpointRegistry>(sp.GetRequiredService<LlmEndpointRegistry>));
        return services;
    }
}
