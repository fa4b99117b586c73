using HuatuoAspire.Data;
using HuatuoAspire.Data.Jobs;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Workers.Apis;
using HuatuoAspire.Workers.Jobs;

namespace HuatuoAspire.Workers;

/// <summary>
/// The pipeline workers as two composable halves: their own Program and the all-in-one host (<c>huatuo up</c>)
/// both call these. They serve the construction, search and evaluation queues; more worker processes on the same
/// database share the work.
/// </summary>
public static class WorkersServiceExtensions
{
    public static IHostApplicationBuilder AddWorkers(this IHostApplicationBuilder builder)
    {
        builder.AddAdminAccess();
        // LLM-bound jobs mostly wait on the network: more workers than cores pays.
        var workerCount = builder.Configuration.GetValue("Workers:Parallelism", Math.Max(4, Environment.ProcessorCount * 4));
        builder.AddHuatuoJobServer(ServiceNames.Workers, workerCount,
            HuatuoJobStorage.Queues.Construction, HuatuoJobStorage.Queues.Search, HuatuoJobStorage.Queues.Evaluation, HuatuoJobStorage.Queues.Default);
        builder.AddHuatuoData();
        builder.Services.AddLlmEndpoints();
        builder.Services.AddTransient<SearchJobs>();
        builder.Services.AddTransient<ConstructionJobs>();
        builder.Services.AddTransient<EvaluationJobs>();
        return builder;
    }

    public static WebApplication MapWorkers(this WebApplication app)
    {
        app.MapPipelineRunsApi();
        app.MapEvaluationRunsApi();
        return app;
    }
}
