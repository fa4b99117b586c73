using HuatuoAspire.Inference.Apis;
using HuatuoAspire.Inference.Scheduling;
using HuatuoAspire.Inference.Serving;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace HuatuoAspire.Inference;

/// <summary>
/// The inference service as two composable halves: its own Program and the all-in-one host (`huatuo up`) both call these.
/// </summary>
public static class InferenceServiceExtensions
{
    public const string NoEngineMessage = "No model engine is registered (IServedModelLoader), so no model can be loaded.";

    public static IHostApplicationBuilder AddInference(this IHostApplicationBuilder builder)
    {
        // Tests and other hosts may register their own loader first.
        builder.Services.TryAddSingleton<IServedModelLoader, EngineModelLoader>();
        builder.Services.AddOptions<InferenceOptions>().Bind(builder.Configuration.GetSection(InferenceOptions.SectionName));
        builder.AddAdminAccess();
        builder.Services.AddSingleton(sp => new ContinuousBatchScheduler(
            sp.GetRequiredService<IOptions<InferenceOptions>>(),
            sp.GetRequiredService<ILogger<ContinuousBatchScheduler>>(),
            ct => LoadConfiguredModelAsync(sp, ct)));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ContinuousBatchScheduler>());
        builder.Services.AddHealthChecks().AddCheck<InferenceModelHealthCheck>("inference-model", tags: [ServiceNames.Inference]);
        return builder;
    }

    public static WebApplication MapInference(this WebApplication app)
    {
        app.MapChatCompletionsApi();
        app.MapInferenceAdminApi();
        return app;
    }

    // Inference:ModelPath when set; otherwise the built-in small model, created once under Inference:DefaultModelDir.
    private static async Task<ServedModel> LoadConfiguredModelAsync(IServiceProvider services, CancellationToken ct)
    {
        var options = services.GetRequiredService<IOptions<InferenceOptions>>().Value;
        var loader = services.GetService<IServedModelLoader>() ?? throw new InvalidOperationException(NoEngineMessage);
        var path = string.IsNullOrWhiteSpace(options.ModelPath)
            ? await loader.EnsureDefaultModelAsync(Path.GetFullPath(options.DefaultModelDir), ct)
            : options.ModelPath;
        if (!Directory.Exists(path))
            throw new DirectoryNotFoundException($"Inference:ModelPath '{path}' does not exist.");
        var id = options.ModelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)));
        return await loader.LoadAsync(new ModelLoadRequest(path, id, options.MaxBatchSize, options.ContextLength, options.WeightDType), ct);
    }
}

/// <summary>Healthy once a model is loaded and being served.</summary>
public sealed class InferenceModelHealthCheck(ContinuousBatchScheduler scheduler) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(scheduler.Current is { } model
            ? HealthCheckResult.Healthy($"Serving {model.Id}.")
            : scheduler.LoadError is { } error
                ? HealthCheckResult.Unhealthy("No model is loaded: " + error)
                : HealthCheckResult.Unhealthy("The model is loading."));
}
