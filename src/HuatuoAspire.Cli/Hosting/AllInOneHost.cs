using HuatuoAspire.Dashboard;
using HuatuoAspire.Data;
using HuatuoAspire.Inference;
using HuatuoAspire.LocalServers;
using HuatuoAspire.Trainer;
using HuatuoAspire.Workers;
using Spectre.Console;

namespace HuatuoAspire.Cli.Hosting;

/// <summary>How to run the host; <paramref name="Services"/> names the services to run (null: all of them).</summary>
public sealed record AllInOneOptions(string DataDirectory, string Urls, string[] ExtraArgs, IReadOnlyCollection<string>? Services = null)
{
    /// <summary>The services a host can run, in the order they are composed.</summary>
    public static readonly IReadOnlyList<string> AllServices = ServiceNames.All;

    public bool Runs(string service) => Services is null || Services.Contains(service, StringComparer.OrdinalIgnoreCase);
}

/// <summary>
/// Every service of the system in one process, like a monolithic "-target=all" mode: the same
/// <c>AddXxx</c>/<c>MapXxx</c> halves each service's own Program uses, composed on one web host. PostgreSQL and
/// Azurite are started here when no connection strings are configured, and stopped when the host stops.
/// </summary>
public static class AllInOneHost
{
    public static async Task<int> RunAsync(AllInOneOptions options, CancellationToken ct)
    {
        AnsiConsole.MarkupLine("[bold]HuatuoAspire[/] all-in-one host");
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(options.ExtraArgs).Build();
        if (OpenApiKeyRule.Refusal(options, configuration) is { } refusal)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{refusal}[/]");
            return 2;
        }
        await using var infrastructure = await LocalInfrastructure.StartAsync(
            options.DataDirectory, ConnectionNames.Database,
            configuration.GetConnectionString(ConnectionNames.Database),
            configuration.GetConnectionString(ConnectionNames.Blobs),
            line => AnsiConsole.MarkupLineInterpolated($"  [grey]started[/] {line}"), ct);

        await using var app = await CreateAsync(options, infrastructure, ct);
        await app.StartAsync(ct);
        PrintEndpoints(app, options);
        try
        {
            await app.WaitForShutdownAsync(ct);
        }
        catch (OperationCanceledException) { }
        AnsiConsole.MarkupLine("[grey]stopping…[/]");
        await app.StopAsync(CancellationToken.None);
        return 0;
    }

    /// <summary>Builds the composed application on the given database and blob storage (not started).</summary>
    public static async Task<WebApplication> CreateAsync(AllInOneOptions options, LocalInfrastructure infrastructure,
        CancellationToken ct)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = options.ExtraArgs,
            ApplicationName = typeof(AllInOneHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseUrls(options.Urls);
        // EF logs the migrator's first look for its history table on an empty database as a failed command; real
        // failures surface as exceptions where they happen.
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore.Database.Command", LogLevel.None);
        // The one place migrations run for this process, as the schema's owner, before any service touches the
        // database; the services then log in as a role that may only read and write rows.
        await using (var owner = HuatuoDataExtensions.CreateDbContext(infrastructure.DatabaseConnectionString))
        {
            await DatabaseMigrator.MigrateAsync(owner, ct);
        }
        var serviceConnection = await DatabaseRoles.PrepareServiceConnectionAsync(infrastructure.DatabaseConnectionString,
            builder.Configuration["Database:ServiceRole"] ?? DatabaseRoles.DefaultServiceRole, builder.Configuration["Database:ServiceRolePassword"], ct);
        builder.Configuration[$"ConnectionStrings:{ConnectionNames.Database}"] = serviceConnection;
        builder.Configuration["Jobs:PrepareSchema"] = "false";
        builder.Configuration[$"ConnectionStrings:{ConnectionNames.Blobs}"] = infrastructure.BlobConnectionString;
        // Without Inference:ModelPath the inference service makes a tiny model once; keep it with the rest of the data.
        builder.Configuration["Inference:DefaultModelDir"] ??= Path.Combine(options.DataDirectory, "models", "default");
        builder.Configuration["Inference:CheckpointCacheDir"] ??= Path.Combine(options.DataDirectory, "models", "checkpoints");
        // Training work folders (checkpoints before upload, downloaded inputs) stay with this instance's data.
        builder.Configuration["Trainer:WorkDirectory"] ??= Path.Combine(options.DataDirectory, "training");
        // Training runs read local data files from the data folder only (others: blob storage, datasets).
        builder.Configuration["Trainer:DataFolders:0"] ??= options.DataDirectory;
        // The dashboard's key ring lives in the database, each key encrypted with this certificate (made on first use,
        // readable by the data folder's owner only): sign-in cookies survive restarts, a database dump opens none.
        builder.Configuration["DataProtection:CertificatePath"] ??= Path.Combine(options.DataDirectory, "keys", "data-protection.pfx");

        // Every service is this process: the dashboard's admin forms call the services' APIs on our own address, and
        // the pipeline's and evaluation's default LLM endpoint is our own inference service (as Aspire would announce it).
        // With --services, only what runs here is announced as here.
        if (options.Services is null) builder.Configuration["Dashboard:ServicesInProcess"] ??= "true";
        // Every service that runs here is announced at our own address, as Aspire announces them (services__workers__http__0, …),
        // so that `http://workers` and the rest resolve through service discovery.
        if (OwnAddress(options.Urls) is { } own)
            foreach (var service in ServiceNames.All.Where(options.Runs)) builder.Configuration[$"services:{service}:http:0"] ??= own;

        if (OpenApiKeyRule.Refusal(options, builder.Configuration) is { } refusal) throw new InvalidOperationException(refusal);
        Compose(builder, options);
        var app = builder.Build();
        Map(app, options);
        return app;
    }

    /// <summary>Registers every chosen service on one builder.</summary>
    public static void Compose(WebApplicationBuilder builder, AllInOneOptions? options = null)
    {
        builder.AddServiceDefaults();
        if (options?.Runs(ServiceNames.Workers) ?? true) builder.AddWorkers();
        if (options?.Runs(ServiceNames.Trainer) ?? true) builder.AddTrainer();
        if (options?.Runs(ServiceNames.Inference) ?? true) builder.AddInference();
        if (options?.Runs(ServiceNames.Dashboard) ?? true) builder.AddDashboard();
    }

    /// <summary>Maps every chosen service's endpoints on one app.</summary>
    public static void Map(WebApplication app, AllInOneOptions? options = null)
    {
        app.MapDefaultEndpoints();
        if (options?.Runs(ServiceNames.Workers) ?? true) app.MapWorkers();
        if (options?.Runs(ServiceNames.Trainer) ?? true) app.MapTrainer();
        if (options?.Runs(ServiceNames.Inference) ?? true) app.MapInference();
        if (options?.Runs(ServiceNames.Dashboard) ?? true) app.MapDashboard();
    }

    /// <summary>The first listening URL as this machine reaches it (any-address binds → loopback); null for port 0.</summary>
    internal static string? OwnAddress(string urls)
    {
        var first = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        if (first is null) return null;
        var uri = ListeningAddress.Reachable(first);
        return uri.Port == 0 ? null : uri.GetLeftPart(UriPartial.Authority);
    }

    private static void PrintEndpoints(WebApplication app, AllInOneOptions options)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("service").AddColumn("url");
        foreach (var address in app.Urls)
        {
            var baseUrl = address.TrimEnd('/');
            if (options.Runs(ServiceNames.Dashboard)) table.AddRow("dashboard", $"{baseUrl}/");
            if (options.Runs(ServiceNames.Dashboard)) table.AddRow("jobs (Hangfire)", $"{baseUrl}/hangfire");
            if (options.Runs(ServiceNames.Inference)) table.AddRow("inference (OpenAI-compatible)", $"{baseUrl}/v1");
            if (options.Runs(ServiceNames.Workers)) table.AddRow("pipeline and evaluation runs (admin API)", $"{baseUrl}/api/pipeline-runs, {baseUrl}/api/evaluation-runs");
            if (options.Runs(ServiceNames.Trainer)) table.AddRow("training runs and uploads (admin API)", $"{baseUrl}/api/training-runs, {baseUrl}/api/uploads");
            table.AddRow("health", $"{baseUrl}/health");
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("Press [bold]Ctrl+C[/] to stop everything.");
    }
}
