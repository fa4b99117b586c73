using Hangfire;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HuatuoAspire.Data.Jobs;

/// <summary>
/// Hangfire on the project's PostgreSQL database (schema <c>hangfire</c>). Every service that enqueues, runs or shows
/// jobs calls <see cref="AddHuatuoJobStorage"/>; which queues a process serves is each service's own choice, so the
/// workers scale out by running more processes on the same database (Hangfire's multi-server model).
/// </summary>
public static class HuatuoJobStorage
{
    public const string Schema = "hangfire";

    /// <summary>The queues, one per kind of work. The trainer alone serves <see cref="Training"/>.</summary>
    public static class Queues
    {
        public const string Construction = "construction";
        public const string Search = "search";
        public const string Evaluation = "evaluation";
        public const string Training = "training";
        public const string Default = "default";
    }

    public static IHostApplicationBuilder AddHuatuoJobStorage(this IHostApplicationBuilder builder)
    {
        if (builder.Services.Any(s => s.ServiceType == typeof(JobStorageMarker))) return builder;
        builder.Services.AddSingleton<JobStorageMarker>();

        // Hangfire's filters plus this process's own, registered before AddHangfire (which only adds its default when
        // none is there) so that the server, the clients and the dashboard of this host all apply them.
        builder.Services.AddSingleton<PipelineRunItemStateFilter>();
        builder.Services.AddSingleton<IJobFilterProvider>(sp => new JobFilterProviderCollection(
            JobFilterProviders.Providers, new JobFilterCollection { sp.GetRequiredService<PipelineRunItemStateFilter>() }));

        builder.Services.AddHangfire((sp, config) =>
        {
            var configuration = sp.GetRequiredService<IConfiguration>();
            var connectionString = configuration.GetConnectionString(ConnectionNames.Database)
                ?? throw new InvalidOperationException(
                    $"No connection string '{ConnectionNames.Database}' (ConnectionStrings__{ConnectionNames.Database}) is configured.");
            config
                .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
                .UseSimpleAssemblyNameTypeSerializer()
                .UseRecommendedSerializerSettings()
                .UseFilter(new JobActivityFilter())
                .UsePostgreSqlStorage(
                    o => o.UseNpgsqlConnection(connectionString),
                    new PostgreSqlStorageOptions
                    {
                        SchemaName = Schema,
                        // False where the migration step installed the tables and the services' role may not (DatabaseRoles).
                        PrepareSchemaIfNecessary = configuration.GetValue("Jobs:PrepareSchema", true),
                        QueuePollInterval = TimeSpan.FromSeconds(1),
                        // A job whose worker died becomes visible again after this long (resume after a kill). Sliding:
                        // a live worker keeps renewing its fetch, so an hours-long training or evaluation job is never
                        // handed to a second worker while the first still runs it (whatever the timeout).
                        InvisibilityTimeout = TimeSpan.FromSeconds(configuration.GetValue("Jobs:InvisibilityTimeoutSeconds", 300.0)),
                        UseSlidingInvisibilityTimeout = true,
                        DistributedLockTimeout = TimeSpan.FromMinutes(1),
                    });
        });
        return builder;
    }

    /// <summary>Runs a Hangfire server in this process for the given queues.</summary>
    public static IHostApplicationBuilder AddHuatuoJobServer(this IHostApplicationBuilder builder, string name,
        int workerCount, params string[] queues)
    {
        builder.AddHuatuoJobStorage();
        builder.Services.AddHangfireServer(o =>
        {
            o.ServerName = $"{name}:{Environment.MachineName}:{Environment.ProcessId}";
            o.Queues = queues;
            o.WorkerCount = Math.Max(1, workerCount);
            o.ShutdownTimeout = TimeSpan.FromSeconds(30);
            o.SchedulePollingInterval = TimeSpan.FromSeconds(5);
        });
        builder.Services.AddHealthChecks()
            .AddTypeActivatedCheck<JobServerHealthCheck>(name, failureStatus: null, tags: [name], args: name);
        return builder;
    }

    private sealed class JobStorageMarker;
}
