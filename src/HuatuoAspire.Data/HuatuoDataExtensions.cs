using Azure.Storage.Blobs;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Import;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HuatuoAspire.Data;

public static class HuatuoDataExtensions
{
    /// <summary>The connection-string names Aspire injects (`ConnectionStrings__huatuodb`, `ConnectionStrings__blobs`).</summary>
    public const string DatabaseConnectionName = "huatuodb";
    public const string BlobsConnectionName = "blobs";

    /// <summary>
    /// Registers the database (pooled <see cref="IDbContextFactory{HuatuoDbContext}"/> plus a scoped
    /// <see cref="HuatuoDbContext"/>), its health check, the importer/exporter, and the blob store.
    /// </summary>
    public static IHostApplicationBuilder AddHuatuoData(this IHostApplicationBuilder builder)
    {
        // Several services of the all-in-one host call this on one builder: register once.
        if (builder.Services.Any(s => s.ServiceType == typeof(IDbContextFactory<HuatuoDbContext>))) return builder;
        var connectionString = builder.Configuration.GetConnectionString(DatabaseConnectionName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"No database configured: set ConnectionStrings:{DatabaseConnectionName} " +
                $"(environment variable ConnectionStrings__{DatabaseConnectionName}) to a PostgreSQL connection string.");
        }

        builder.Services.AddPooledDbContextFactory<HuatuoDbContext>(o => o.UseNpgsql(connectionString, ConfigureNpgsql));
        builder.Services.AddScoped(sp => sp.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContext());
        // Aspire's integration adds the health check, Npgsql's tracing and metrics to the registration above. Its
        // retrying execution strategy stays off: imports and jobs open their own transactions, which it refuses.
        builder.EnrichNpgsqlDbContext<HuatuoDbContext>(settings => settings.DisableRetry = true);

        builder.Services.AddTransient<DatasetImporter>();
        builder.Services.AddTransient<Export.DatasetExporter>();

        // The blob store is resolved lazily: commands that only touch the database run without blob storage.
        builder.Services.AddSingleton(_ =>
        {
            var blobs = builder.Configuration.GetConnectionString(BlobsConnectionName);
            if (string.IsNullOrWhiteSpace(blobs))
            {
                throw new InvalidOperationException(
                    $"No blob storage configured: set ConnectionStrings:{BlobsConnectionName} " +
                    $"(environment variable ConnectionStrings__{BlobsConnectionName}) to an Azure Storage / Azurite connection string.");
            }
            return BlobServiceClients.Create(blobs);
        });
        builder.Services.AddSingleton(sp => new ArtifactStore(sp.GetRequiredService<BlobServiceClient>()));
        // For services that touch blob storage on some paths only (an evaluation of a dataset needs none): injected
        // without resolving it, so the missing-configuration error comes from the path that needs the store.
        builder.Services.AddTransient(sp => new Lazy<ArtifactStore>(sp.GetRequiredService<ArtifactStore>));
        return builder;
    }

    /// <summary>Provider options shared by the runtime and design-time contexts.</summary>
    public static void ConfigureNpgsql(Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure.NpgsqlDbContextOptionsBuilder npgsql) =>
        npgsql.MigrationsAssembly(typeof(HuatuoDbContext).Assembly.GetName().Name);

    /// <summary>A context for one-off tools and tests that do not build a host.</summary>
    public static HuatuoDbContext CreateDbContext(string connectionString) =>
        new(new DbContextOptionsBuilder<HuatuoDbContext>().UseNpgsql(connectionString, ConfigureNpgsql).Options);
}
