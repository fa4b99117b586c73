using HuatuoAspire.Data;
using HuatuoAspire.Data.Jobs;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Trainer.Apis;
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
        // The LLM-judge verifier's endpoints: the same registration as the workers', one registry in `huatuo up`.
        builder.Services.AddLlmEndpoints();
        return builder;
    }

    public static WebApplication MapTrainer(this WebApplication app)
    {
        app.MapTrainingRunsApi();
        app.MapUploadsApi();
        return app;
    }
}
