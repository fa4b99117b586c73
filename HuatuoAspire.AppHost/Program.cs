// The HuatuoAspire system, top to bottom. `huatuo up` composes the same services in one process.
var builder = DistributedApplication.CreateBuilder(args);

// Infrastructure
var postgres = builder.AddPostgres("postgres")
    .WithDataVolume()
    .WithPgAdmin();
var huatuodb = postgres.AddDatabase("huatuodb");

var storage = builder.AddAzureStorage("storage")
    .RunAsEmulator(azurite => azurite.WithDataVolume());
var blobs = storage.AddBlobs("blobs");

// Migrations run to completion before any service starts: one place applies them, nobody else does.
var migrations = builder.AddProject<Projects.HuatuoAspire_Cli>("migrations")
    .WithArgs("migrate")
    .WithReference(huatuodb).WaitFor(huatuodb);

// Services
var inference = builder.AddProject<Projects.HuatuoAspire_Inference>("inference")
    .WithReference(blobs).WaitFor(blobs)
    .WithReference(huatuodb).WaitForCompletion(migrations);

var workers = builder.AddProject<Projects.HuatuoAspire_Workers>("workers")
    .WithReference(huatuodb).WaitForCompletion(migrations)
    .WithReference(blobs).WaitFor(blobs)
    // The pipeline's LLM calls default to our own inference service.
    .WithReference(inference).WaitFor(inference)
    .WithReplicas(2);

// Training needs the GPU host in Azure; locally it runs on CPU.
var trainer = builder.AddProject<Projects.HuatuoAspire_Trainer>("trainer")
    .WithReference(huatuodb).WaitForCompletion(migrations)
    .WithReference(blobs).WaitFor(blobs);

// Apps
builder.AddProject<Projects.HuatuoAspire_Dashboard>("dashboard")
    .WithExternalHttpEndpoints()
    .WithReference(huatuodb).WaitForCompletion(migrations)
    .WithReference(blobs)
    // The admin forms call the services' own APIs.
    .WithReference(workers)
    .WithReference(trainer)
    .WithReference(inference);

builder.Build().Run();
