using HuatuoAspire.LocalServers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HuatuoAspire.AppHost.Infrastructure;

/// <summary>
/// PostgreSQL and Azure Blob storage for the system, as containers (Aspire's PostgreSQL integration and the Azurite
/// image) or, without a container runtime, as executables on this machine. Either way the database is the
/// resource <c>huatuodb</c> and the blob service <c>blobs</c>, so services get <c>ConnectionStrings__huatuodb</c>
/// and <c>ConnectionStrings__blobs</c> unchanged.
/// </summary>
public static class InfrastructureExtensions
{
    private const string AzuriteImage = "mcr.microsoft.com/azure-storage/azurite";
    private const string AzuriteTag = "3.35.0";

    public static IResourceBuilder<IResourceWithConnectionString> AddHuatuoDatabase(this IDistributedApplicationBuilder builder,
        InfrastructureMode mode, string dataDirectory)
    {
        if (mode == InfrastructureMode.Containers)
        {
            return builder.AddPostgres("postgres")
                .WithDataVolume("huatuo-postgres")
                .AddDatabase(ConnectionNames.Database);
        }

        var folder = Path.Combine(dataDirectory, "postgres");
        // The password lives beside the cluster (made on its first start), so later starts reuse it.
        var password = builder.AddParameter("postgres-password", PostgresServer.ReadOrCreatePassword(folder), secret: true);
        var (command, prefix) = PostgresCommand();
        var server = builder.AddResource(new ExecutablePostgresResource("postgres", command, dataDirectory, folder, password.Resource))
            .WithEndpoint(name: ExecutablePostgresResource.EndpointName, scheme: "tcp")
            .WithArgs(context =>
            {
                foreach (var arg in prefix) context.Args.Add(arg);
                context.Args.Add("-D");
                context.Args.Add(folder);
                context.Args.Add("-p");
                context.Args.Add(context.Resource is ExecutablePostgresResource r
                    ? r.PrimaryEndpoint.Property(EndpointProperty.TargetPort)
                    : throw new InvalidOperationException("Unexpected resource."));
            })
            // initdb on the first start: here, so a failure shows in the resource's log instead of stopping the AppHost.
            .OnBeforeResourceStarted(async (resource, _, ct) => await PostgresServer.PrepareDataDirectoryAsync(resource.DataDirectory, ct));

        server.WithHealthCheck(builder.AddResourceHealthCheck(server.Resource, r => new PostgresDatabaseHealthCheck(r)));

        var database = builder.AddResource(new ExecutablePostgresDatabaseResource(ConnectionNames.Database, ConnectionNames.Database, server.Resource))
            // As Aspire's PostgreSQL integration does: the database is created once its server is ready.
            .RunsWithParent(server.Resource, async ct => await PostgresServer.EnsureDatabaseAsync(
                await server.Resource.ConnectionStringExpression.GetValueAsync(ct) ?? "", ConnectionNames.Database, ct));
        return database.WithHealthCheck(builder.AddResourceHealthCheck(database.Resource, r => new PostgresDatabaseHealthCheck(r)));
    }

    public static IResourceBuilder<IResourceWithConnectionString> AddHuatuoBlobStorage(this IDistributedApplicationBuilder builder,
        InfrastructureMode mode, string dataDirectory)
    {
        IResourceBuilder<IResourceWithEndpoints> azurite;
        if (mode == InfrastructureMode.Containers)
        {
            azurite = builder.AddContainer("storage", AzuriteImage, AzuriteTag)
                .WithArgs("azurite-blob", "--blobHost", "0.0.0.0", "--location", "/data", "--skipApiVersionCheck", "--loose", "--disableTelemetry")
                .WithHttpEndpoint(targetPort: 10000, name: BlobStorageResource.EndpointName)
                .WithVolume("huatuo-azurite", "/data");
        }
        else
        {
            var folder = Path.Combine(dataDirectory, "azurite");
            Directory.CreateDirectory(folder);
            azurite = builder.AddResource(new ExecutableAzuriteResource("storage", AzuriteCommand(), dataDirectory, folder))
                .WithHttpEndpoint(name: BlobStorageResource.EndpointName)
                .WithArgs(context =>
                {
                    var blob = ((IResourceWithEndpoints)context.Resource).GetEndpoint(BlobStorageResource.EndpointName);
                    context.Args.Add("--blobHost");
                    context.Args.Add("127.0.0.1");
                    context.Args.Add("--blobPort");
                    context.Args.Add(blob.Property(EndpointProperty.TargetPort));
                    context.Args.Add("--location");
                    context.Args.Add(folder);
                    // The current Azure.Storage.Blobs asks for a service version newer than Azurite knows.
                    context.Args.Add("--skipApiVersionCheck");
                    context.Args.Add("--loose");
                    context.Args.Add("--disableTelemetry");
                });
        }

        var blobs = builder.AddResource(new BlobStorageResource(ConnectionNames.Blobs, azurite.Resource))
            .RunsWithParent(azurite.Resource);
        azurite.WithHealthCheck(builder.AddResourceHealthCheck(azurite.Resource, _ => new AzuriteHealthCheck(blobs.Resource)));
        return blobs.WithHealthCheck(builder.AddResourceHealthCheck(blobs.Resource, r => new AzuriteHealthCheck(r)));
    }

    /// <summary>Registers a health check for <paramref name="resource"/> with the AppHost's health-check service and returns its key.</summary>
    private static string AddResourceHealthCheck<T>(this IDistributedApplicationBuilder builder, T resource, Func<T, IHealthCheck> create)
        where T : IResource
    {
        var key = $"{resource.Name}_check";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(key, _ => create(resource), failureStatus: null, tags: null));
        return key;
    }

    /// <summary>
    /// <c>postgres</c> from the newest Debian PostgreSQL (or <c>HUATUO_PG_BIN</c>). PostgreSQL refuses to run as
    /// root, so as root it is started through <c>setpriv</c> as the <c>postgres</c> user: setpriv execs, so the
    /// process Aspire stops is the server itself. When the programs are missing the command stays <c>postgres</c>,
    /// and the resource fails to start with that reason in the Aspire dashboard.
    /// </summary>
    private static (string Command, string[] Prefix) PostgresCommand()
    {
        string program;
        try
        {
            program = Path.Combine(PostgresServer.FindBinDirectory(), "postgres");
        }
        catch (LocalServerException ex)
        {
            Console.Error.WriteLine($"postgres: {ex.Message}");
            return ("postgres", []);
        }
        return PostgresServer.ServerUser is { } user
            ? ("setpriv", [$"--reuid={user}", $"--regid={user}", "--init-groups", "--", program])
            : (program, []);
    }

    private static string AzuriteCommand()
    {
        try
        {
            return AzuriteServer.FindProgram();
        }
        catch (LocalServerException ex)
        {
            Console.Error.WriteLine($"storage: {ex.Message}");
            return "azurite-blob";
        }
    }
}
