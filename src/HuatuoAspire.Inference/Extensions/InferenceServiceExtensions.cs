using HuatuoAspire.Inference.Apis;
using HuatuoAspire.Inference.Contracts;
using HuatuoAspire.Inference.Scheduling;
using HuatuoAspire.Inference.Serving;
using HuatuoAspire.Storage;
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
        builder.Services.TryAddSingleton(sp => new CheckpointDownloader(sp.GetRequiredService<IOptions<InferenceOptions>>(),
            () => sp.GetService<ArtifactStore>() ?? CreateBlobStore(sp.GetRequiredService<IConfiguration>())));
        builder.Services.AddHealthChecks().AddCheck<InferenceModelHealthCheck>("inference-model", tags: [ServiceNames.Inference]);
        return builder;
    }

    public static WebApplication MapInference(this WebApplication app)
    {
        app.MapChatCompletionsApi();
        app.MapInferenceAdminApi();
        return app;
    }

    // The inference service alone registers no blob store (it has no database stack): one from ConnectionStrings:blobs,
    // made on a switch by blob prefix, so that serving a folder needs no blob storage.
    private static ArtifactStore CreateBlobStore(IConfiguration configuration)
    {
        var connection = configuration.GetConnectionString(ConnectionNames.Blobs);
        if (string.IsNullOrWhiteSpace(connection))
        {
            throw InferenceRequestException.InvalidParameter("blob_prefix",
                $"Blob storage is not configured: set ConnectionStrings:{ConnectionNames.Blobs} to switch to a checkpoint by blob prefix.");
        }
        return new ArtifactStore(BlobServiceClients.Create(connection));
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
