namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// One PostgreSQL, one Azurite and one running all-in-one host for every test of the project (<see cref="DashboardFixture"/>).
/// The tests run one at a time: a host's workers and trainer take any job in the shared database, so two full hosts
/// at once would work off each other's runs.
/// </summary>
[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardFixture>
{
    public const string Name = "dashboard";
}
