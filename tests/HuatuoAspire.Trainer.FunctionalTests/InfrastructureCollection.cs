namespace HuatuoAspire.Trainer.FunctionalTests;

/// <summary>One real PostgreSQL and one real Azurite (TestSupport's fixture) for every trainer test.</summary>
[CollectionDefinition(Name)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>
{
    public const string Name = "infrastructure";
}
