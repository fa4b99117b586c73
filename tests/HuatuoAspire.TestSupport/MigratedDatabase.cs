using HuatuoAspire.Data;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.TestSupport;

/// <summary>A test's own migrated database: its connection string, and contexts on it (it is the context factory).</summary>
public sealed record MigratedDatabase(string ConnectionString, IDbContextFactory<HuatuoDbContext> Factory) : IDbContextFactory<HuatuoDbContext>
{
    public HuatuoDbContext CreateDbContext() => Factory.CreateDbContext();

    public Task<HuatuoDbContext> CreateDbContextAsync(CancellationToken cancellationToken = default) => Factory.CreateDbContextAsync(cancellationToken);
}
