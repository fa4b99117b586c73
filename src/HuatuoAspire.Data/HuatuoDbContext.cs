using System.Text.Json;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Data.Text;
using HuatuoAspire.Domain.Search;
using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace HuatuoAspire.Data;

public sealed class HuatuoDbContext(DbContextOptions<HuatuoDbContext> options) : DbContext(options), IDataProtectionKeyContext
{
    /// <summary>The dashboard's key ring (sign-in cookies, antiforgery), shared by its replicas; each key encrypted (HuatuoDataProtection).</summary>
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    public DbSet<Dataset> Datasets => Set<Dataset>();
    public DbSet<ImportRun> ImportRuns => Set<ImportRun>();
    public DbSet<ExamQuestion> ExamQuestions => Set<ExamQuestion>();
    public DbSet<VerifiableProblem> VerifiableProblems => Set<VerifiableProblem>();
    public DbSet<ReasoningTrajectory> ReasoningTrajectories => Set<ReasoningTrajectory>();
    public DbSet<SearchAttempt> SearchAttempts => Set<SearchAttempt>();
    public DbSet<SearchStep> SearchSteps => Set<SearchStep>();
    public DbSet<PipelineRun> PipelineRuns => Set<PipelineRun>();
    public DbSet<TrainingRun> TrainingRuns => Set<TrainingRun>();
    public DbSet<TrainingMetric> TrainingMetrics => Set<TrainingMetric>();
    public DbSet<Checkpoint> Checkpoints => Set<Checkpoint>();
    public DbSet<EvaluationRun> EvaluationRuns => Set<EvaluationRun>();
    public DbSet<EvaluationResult> EvaluationResults => Set<EvaluationResult>();

    // Model outputs may hold NUL or lone surrogates, which PostgreSQL refuses: every save goes through one cleaner.
    // (Here rather than an interceptor: pooled contexts may not add interceptors in OnConfiguring, and tests build
    // their own options.)
    public override int SaveChanges(bool acceptAllChangesOnSuccess)
    {
        TrackedTextCleaner.Clean(ChangeTracker);
        return base.SaveChanges(acceptAllChangesOnSuccess);
    }

    public override Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        TrackedTextCleaner.Clean(ChangeTracker);
        return base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // Enums as their names: readable in psql, and stable when members are added.
        configurationBuilder.Properties<ImportFormat>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<ImportRunStatus>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<ProblemStatus>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<LlmFilterVerdict>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<SearchStrategy>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<VerifierVerdict>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<TrajectoryStatus>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<PipelineRunKind>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<RunStatus>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<TrainingRunKind>().HaveConversion<string>().HaveMaxLength(32);
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Dataset>(e =>
        {
            e.HasIndex(d => d.Name).IsUnique();
            e.Property(d => d.Name).HasMaxLength(200);
        });

        modelBuilder.Entity<ImportRun>(e =>
        {
            e.HasOne(r => r.Dataset).WithMany(d => d.ImportRuns).HasForeignKey(r => r.DatasetId);
            e.HasIndex(r => new { r.DatasetId, r.FileSha256 });
            e.Property(r => r.FileSha256).HasMaxLength(64);
            e.OwnsMany(r => r.Errors, b => b.ToJson());
            e.Property(r => r.Version).IsRowVersion();
        });

        modelBuilder.Entity<ExamQuestion>(e =>
        {
            e.HasOne(q => q.Dataset).WithMany().HasForeignKey(q => q.DatasetId);
            e.HasIndex(q => new { q.DatasetId, q.ContentSha256 }).IsUnique();
            e.Property(q => q.ContentSha256).HasMaxLength(64);
            e.Property(q => q.AnswerIdx).HasMaxLength(8);
            OptionsAsJsonb(e.Property(q => q.Options));
            e.Property(q => q.Meta).HasColumnType("jsonb");
        });

        modelBuilder.Entity<VerifiableProblem>(e =>
        {
            e.HasOne(p => p.Dataset).WithMany().HasForeignKey(p => p.DatasetId);
            e.HasOne(p => p.ExamQuestion).WithMany().HasForeignKey(p => p.ExamQuestionId).OnDelete(DeleteBehavior.SetNull);
            e.HasIndex(p => new { p.DatasetId, p.ContentSha256 }).IsUnique();
            e.HasIndex(p => p.Status); // workers pick the next Accepted problem
            e.HasIndex(p => p.ExamQuestionId);
            e.Property(p => p.ContentSha256).HasMaxLength(64);
            e.OwnsMany(p => p.DifficultyResults, b => b.ToJson());
            e.OwnsMany(p => p.StageExchanges, b => b.ToJson());
            e.Property(p => p.Version).IsRowVersion();
        });

        modelBuilder.Entity<ReasoningTrajectory>(e =>
        {
            e.HasOne(t => t.Problem).WithMany(p => p.Trajectories).HasForeignKey(t => t.ProblemId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne(t => t.Dataset).WithMany().HasForeignKey(t => t.DatasetId);
            // NULLs are distinct in PostgreSQL, so trajectories made by search (no dataset, no hash) never collide.
            e.HasIndex(t => new { t.DatasetId, t.ContentSha256 }).IsUnique();
            e.HasIndex(t => t.ProblemId);
            e.HasIndex(t => t.Status);
            e.Property(t => t.ContentSha256).HasMaxLength(64);
            e.Property(t => t.Version).IsRowVersion();
        });

        modelBuilder.Entity<SearchAttempt>(e =>
        {
            e.HasOne(a => a.Trajectory).WithMany(t => t.Attempts).HasForeignKey(a => a.TrajectoryId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(a => new { a.TrajectoryId, a.AttemptIndex }).IsUnique();
        });

        modelBuilder.Entity<SearchStep>(e =>
        {
            e.HasOne(s => s.Attempt).WithMany(a => a.Steps).HasForeignKey(s => s.AttemptId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(s => new { s.AttemptId, s.StepIndex }).IsUnique();
            e.OwnsMany(s => s.ParsedSteps, b =>
            {
                b.ToJson();
                // Pinned: the Domain record's System.Text.Json names (action, title, content) are for LLM replies.
                b.Property(c => c.Action).HasJsonPropertyName("Action");
                b.Property(c => c.Title).HasJsonPropertyName("Title");
                b.Property(c => c.Content).HasJsonPropertyName("Content");
            });
        });

        modelBuilder.Entity<PipelineRun>(e =>
        {
            e.Property(r => r.Parameters).HasColumnType("jsonb");
            e.HasIndex(r => new { r.Kind, r.Status });
            e.Property(r => r.Version).IsRowVersion();
        });

        modelBuilder.Entity<TrainingRun>(e =>
        {
            e.Property(r => r.Config).HasColumnType("jsonb");
            e.Property(r => r.Name).HasMaxLength(200);
            e.HasIndex(r => new { r.Kind, r.Status });
            e.HasMany(r => r.Metrics).WithOne().HasForeignKey(m => m.TrainingRunId).OnDelete(DeleteBehavior.Cascade);
            e.HasMany(r => r.Checkpoints).WithOne(c => c.TrainingRun).HasForeignKey(c => c.TrainingRunId).OnDelete(DeleteBehavior.Cascade);
            e.Property(r => r.Version).IsRowVersion();
        });

        modelBuilder.Entity<TrainingMetric>(e =>
        {
            // One value per (run, step, name); the dashboard reads one series at a time in step order.
            e.HasIndex(m => new { m.TrainingRunId, m.Name, m.Step }).IsUnique();
            e.Property(m => m.Name).HasMaxLength(100);
        });

        modelBuilder.Entity<Checkpoint>(e =>
        {
            e.HasIndex(c => new { c.TrainingRunId, c.Step });
            e.HasIndex(c => c.BlobName).IsUnique();
            e.Property(c => c.Sha256).HasMaxLength(64);
        });

        modelBuilder.Entity<EvaluationRun>(e =>
        {
            e.HasIndex(r => new { r.Benchmark, r.Model });
            e.HasOne(r => r.PipelineRun).WithMany().HasForeignKey(r => r.PipelineRunId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(r => new { r.PipelineRunId, r.Benchmark }).IsUnique();
            e.Property(r => r.Version).IsRowVersion();
        });

        modelBuilder.Entity<EvaluationResult>(e =>
        {
            e.HasOne(r => r.EvaluationRun).WithMany(r => r.Results).HasForeignKey(r => r.EvaluationRunId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(r => new { r.EvaluationRunId, r.QuestionKey }).IsUnique();
            e.Property(r => r.AnswerIdx).HasMaxLength(8);
            e.Property(r => r.ExtractedLetter).HasMaxLength(8);
            e.Property(r => r.ExtractionRule).HasMaxLength(32);
            OptionsAsJsonb(e.Property(r => r.Options));
        });
    }

    private static void OptionsAsJsonb(PropertyBuilder<Dictionary<string, string>> property)
    {
        // A letter → text object in jsonb. jsonb orders keys shortest-first then bytewise, which for option letters
        // is alphabetical, so "A".."E" come back in order.
        property.HasColumnType("jsonb").HasConversion(
            v => JsonSerializer.Serialize(v, JsonSerializerOptions.Default),
            s => JsonSerializer.Deserialize<Dictionary<string, string>>(s, JsonSerializerOptions.Default) ?? new Dictionary<string, string>(),
            new ValueComparer<Dictionary<string, string>>(
                (a, b) => a != null && b != null && a.Count == b.Count && !a.Except(b).Any(),
                v => v.Aggregate(0, (h, kv) => HashCode.Combine(h, kv.Key.GetHashCode(StringComparison.Ordinal), kv.Value.GetHashCode(StringComparison.Ordinal))),
                v => new Dictionary<string, string>(v)));
    }
}
