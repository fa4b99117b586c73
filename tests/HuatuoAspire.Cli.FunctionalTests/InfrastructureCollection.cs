namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>One real PostgreSQL and one real Azurite (TestSupport's fixture) for every test of the collection.</summary>
[CollectionDefinition(Name)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>
{
    public const string Name = "infrastructure";
}
