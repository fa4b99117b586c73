// The HuatuoAspire system, top to bottom. `huatuo up` composes the same services in one process.
using HuatuoAspire.AppHost;
using HuatuoAspire.AppHost.Infrastructure;
using Microsoft.Extensions.Hosting;

var builder = DistributedApplication.CreateBuilder(args);
try
{
var data = builder.HuatuoDataDirectory();

// Infrastructure: containers with a healthy container runtime, else PostgreSQL and Azurite as executables here.
var (mode, reason) = InfrastructureModeSelector.Select(builder.Configuration[$"Parameters:{InfrastructureModeSelector.ParameterName}"]);
builder.AddParameter(InfrastructureModeSelector.ParameterName, $"{mode.ToString().ToLowerInvariant()} ({reason})")
    .WithDescription("How PostgreSQL and Azurite run: auto, containers or executables.");
var huatuodb = builder.AddHuatuoDatabase(mode, data);
var blobs = builder.AddHuatuoBlobStorage(mode, data);

// External model endpoints: empty means the project's own inference service and its built-in model.
var llm = builder.AddLlmEndpointParameters();
var servedModel = builder.AddServedModelParameter();

// Migrations run to completion before any service that uses the database starts: one place applies them.
var migrations = builder.AddProject<Projects.HuatuoAspire_Cli>("migrations")
    .WithArgs("migrate")
    .WithReference(huatuodb).WaitFor(huatuodb);

// Services
var inference = builder.AddProject<Projects.HuatuoAspire_Inference>(ServiceNames.Inference)
    .WithHuatuoService(port: builder.ServicePort("InferencePort", 5081))
    .WithServedModel(servedModel)
    .WithEnvironment("Inference__DefaultModelDir", Path.Combine(data, "models", "default"))
    .WithEnvironment("Inference__CheckpointCacheDir", Path.Combine(data, "models", "checkpoints"))
    // Checkpoints served from blob storage are downloaded from there; the inference service has no database.
    .WithReference(blobs).WaitFor(blobs);

var workers = builder.AddProject<Projects.HuatuoAspire_Workers>(ServiceNames.Workers)
    .WithHuatuoService()
    .WithReference(huatuodb).WaitForCompletion(migrations)
    .WithReference(blobs).WaitFor(blobs)
    // Construction, search and the judge call the external endpoint when one is given, else our inference service.
    .WithReference(inference).WaitFor(inference)
    .WithLlmEndpoint(llm)
    // Two replicas on one PostgreSQL: Hangfire hands each item to one of them.
    .WithReplicas(2);

var trainer = builder.AddProject<Projects.HuatuoAspire_Trainer>(ServiceNames.Trainer)
    .WithHuatuoService()
    .WithEnvironment("Trainer__WorkDirectory", Path.Combine(data, "training"))
    .WithEnvironment("Trainer__DataFolders__0", data)
    .WithReference(huatuodb).WaitForCompletion(migrations)
    .WithReference(blobs).WaitFor(blobs)
    // PPO with `verifier: llm` asks the judge.
    .WithReference(inference)
    .WithLlmEndpoint(llm);

// Apps
var dashboard = builder.AddProject<Projects.HuatuoAspire_Dashboard>(ServiceNames.Dashboard)
    .WithHuatuoService(port: builder.ServicePort("DashboardPort", 5080))
    // The key ring is in the database; this certificate (made on first start) encrypts each key.
    .WithEnvironment("DataProtection__CertificatePath", Path.Combine(data, "keys", "data-protection.pfx"))
    .WithExternalHttpEndpoints()
    .WithReference(huatuodb).WaitForCompletion(migrations)
    .WithReference(blobs)
    // The admin forms call the services' own APIs.
    .WithReference(workers)
    .WithReference(trainer)
    .WithReference(inference)
    .AnnouncesUrlsWhenReady(inference);
// The run pages link to the traces in the Aspire dashboard, whose address is this AppHost's own URL.
if (builder.Configuration["ASPNETCORE_URLS"]?.Split(';')[0] is { Length: > 0 } aspireDashboard)
    dashboard.WithEnvironment("Dashboard__AspireDashboardUrl", aspireDashboard);

builder.Build().Run();
}
catch (Exception ex) when (ex is AppHostConfigurationException or ArgumentException)
{
    // A setting that cannot work is one line, not a stack trace.
    Console.Error.WriteLine($"HuatuoAspire.AppHost: {ex.Message}");
    return 2;
}
return 0;
