namespace HuatuoAspire.Data.FunctionalTests;

/// <summary>The data tests share one PostgreSQL and one Azurite (TestSupport's fixture); each test class takes a fresh database.</summary>
[CollectionDefinition(Name)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>
{
    public const string Name = "PostgreSQL and Azurite";
}
