using HuatuoAspire.LocalServers;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>One real PostgreSQL and one real Azurite for the whole test collection, in a temporary folder.</summary>
public sealed class InfrastructureFixture : IAsyncLifetime
{
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), $"huatuo-cli-tests-{Guid.NewGuid():N}");
    public LocalInfrastructure Infrastructure { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Infrastructure = await LocalInfrastructure.StartAsync(DataDirectory, "huatuodb", null, null);
    }

    public async Task DisposeAsync()
    {
        await Infrastructure.DisposeAsync();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>
{
    public const string Name = "infrastructure";
}

/// <summary>
/// Tests that run <c>huatuo</c> commands in this process: Spectre.Console's console and its live displays (progress
/// bars) are process-wide, so two commands at once would collide. These run one at a time.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CommandLineCollection
{
    public const string Name = "command line";
}
