using HuatuoAspire.Data.Entities;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Import;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace HuatuoAspire.Data.FunctionalTests;

[Collection(InfrastructureCollection.Name)]
public sealed class RegistrationTests(InfrastructureFixture infra)
{
    [Fact]
    public async Task AddHuatuoDataReadsTheConnectionStringsAspireInjects()
    {
        var connectionString = await infra.CreateEmptyDatabaseAsync("di");
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        // Exactly the configuration keys that ConnectionStrings__huatuodb / ConnectionStrings__blobs become.
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:huatuodb"] = connectionString,
            ["ConnectionStrings:blobs"] = infra.Azurite.ConnectionString,
        });
        builder.AddHuatuoData();
        using var host = builder.Build();

        Assert.NotEmpty(await DatabaseMigrator.MigrateAsync(host.Services, default));
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<HuatuoDbContext>();
            Assert.Equal(0, await db.ExamQuestions.CountAsync());
            Assert.Equal(connectionString, db.Database.GetConnectionString());
        }
        // The factory and the importer work on the configured database: a question imported through them is counted there.
        var questions = Path.Combine(infra.NewFolder("di"), "medqa.jsonl");
        await File.WriteAllTextAsync(questions, """{"question": "Which vitamin deficiency causes scurvy?", "options": {"A": "Vitamin A", "B": "Vitamin C"}, "answer_idx": "B", "answer": "Vitamin C"}""" + "\n");
        await host.Services.GetRequiredService<DatasetImporter>().ImportAsync(questions, new ImportOptions { Format = ImportFormat.MedQa });
        await using (var fromFactory = await host.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync())
        {
            Assert.Equal(connectionString, fromFactory.Database.GetConnectionString());
            Assert.Equal(1, await fromFactory.ExamQuestions.CountAsync());
        }

        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, health.Status);
        // The check Aspire's Npgsql EF Core integration registers, named after the context.
        Assert.Contains(nameof(HuatuoDbContext), health.Entries.Keys);

        var store = host.Services.GetRequiredService<ArtifactStore>();
        var stored = await store.UploadAsync("di/hello.txt", new MemoryStream("hello"u8.ToArray()));
        Assert.Equal("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", stored.Sha256); // sha256("hello")
    }

    [Fact]
    public void AMissingDatabaseConnectionStringIsAClearError()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        var error = Assert.Throws<InvalidOperationException>(() => builder.AddHuatuoData());
        Assert.Contains("ConnectionStrings__huatuodb", error.Message);
    }

    [Fact]
    public void AMissingBlobConnectionStringFailsOnlyWhenTheBlobStoreIsUsed()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration["ConnectionStrings:huatuodb"] = "Host=127.0.0.1;Database=unused";
        builder.AddHuatuoData();
        using var host = builder.Build();
        _ = host.Services.GetRequiredService<DatasetImporter>(); // resolves: importing needs no blob storage
        var error = Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredService<ArtifactStore>());
        Assert.Contains("ConnectionStrings__blobs", error.Message);
    }
}
