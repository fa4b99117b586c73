using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace HuatuoAspire.Data.FunctionalTests;

[Collection(InfrastructureCollection.Name)]
public sealed class MigrationTests(InfrastructureFixture infra)
{
    [Fact]
    public async Task MigrationsApplyToAnEmptyDatabaseAndASecondRunAppliesNothing()
    {
        var connectionString = await infra.CreateEmptyDatabaseAsync("migrate");
        await using var db = HuatuoDataExtensions.CreateDbContext(connectionString);

        var applied = await DatabaseMigrator.MigrateAsync(db, default);
        Assert.Equal(db.Database.GetMigrations(), applied);
        Assert.NotEmpty(applied);
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        Assert.Empty(await DatabaseMigrator.MigrateAsync(db, default));

        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name", conn);
        var tables = new List<string>();
        await using (var reader = await cmd.ExecuteReaderAsync())
            while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
        foreach (var expected in new[] { "Datasets", "ImportRuns", "ExamQuestions", "VerifiableProblems", "ReasoningTrajectories",
                     "SearchAttempts", "SearchSteps", "PipelineRuns", "TrainingRuns", "TrainingMetrics", "Checkpoints",
                     "EvaluationRuns", "EvaluationResults", "__EFMigrationsHistory" })
            Assert.Contains(expected, tables);

        // The model the code has is the model the migrations built (no forgotten `migrations add`).
        Assert.False(db.Database.HasPendingModelChanges());
    }

    [Fact]
    public async Task MigratingCreatesTheDatabaseWhenItDoesNotExist()
    {
        var builder = new NpgsqlConnectionStringBuilder(infra.Postgres.ConnectionString) { Database = "created_by_migrate" };
        await using var db = HuatuoDataExtensions.CreateDbContext(builder.ConnectionString);
        Assert.NotEmpty(await DatabaseMigrator.MigrateAsync(db, default));
        Assert.Equal(0, await db.ExamQuestions.CountAsync());
    }
}
