// Branches written before TestSupport name the shared fixture by its old name here.
global using PostgresFixture = HuatuoAspire.TestSupport.InfrastructureFixture;

namespace HuatuoAspire.Workers.FunctionalTests;

/// <summary>The worker tests share one PostgreSQL (TestSupport's fixture); each test takes a fresh, migrated database.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<InfrastructureFixture>
{
    public const string Name = "PostgreSQL";
}
