using HuatuoAspire.Data;
using HuatuoAspire.Data.Jobs;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Trainer.Apis;
using Microsoft.Extensions.DependencyInjection.Extensions;
using HuatuoAspire.Trainer.Jobs;

namespace HuatuoAspire.Trainer;

/// <summary>
/// The training worker as two composable halves: its own Program and the all-in-one host (<c>huatuo up</c>) both
/// call these. It alone serves the training queue, one job at a time (a training run takes the whole machine).
/// </summary>
public static class TrainerServiceExtensions
{
    public static IHostApplicationBuilder AddTrainer(this IHostApplicationBuilder builder)
    {
        builder.AddAdminAccess();
        builder.AddHuatuoData();
        builder.AddHuatuoJobServer(ServiceNames.Trainer, workerCount: 1, HuatuoJobStorage.Queues.Training);
        builder.Services.AddTransient<TrainingJobs>();
        builder.Services.AddSingleton<TrainingDataFolders>();
        // The named LLM endpoints for the LLM-judge verifier (the workers register the same registry in `huatuo up`).
        builder.Services.TryAddSingleton(sp => LlmConfiguration.CreateRegistry(sp.GetRequiredService<IConfiguration>()));
        return builder;
    }

    public static WebApplication MapTrainer(this WebApplication app)
    {
        app.MapTrainingRunsApi();
        return app;
    }
}
