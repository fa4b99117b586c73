using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using HuatuoAspire.AppHost.Infrastructure;

namespace HuatuoAspire.AppHost.FunctionalTests;

/// <summary>The AppHost's choices that need no running resource: infrastructure mode, resource shapes, parameters.</summary>
public sealed class AppModelTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("huatuo-apphost-model-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    [Theory]
    [InlineData("containers", InfrastructureMode.Containers)]
    [InlineData("executables", InfrastructureMode.Executables)]
    [InlineData("Executables", InfrastructureMode.Executables)]
    public void TheInfrastructureParameterForcesAModeWithoutAskingTheRuntime(string configured, InfrastructureMode expected)
    {
        var (mode, reason) = InfrastructureModeSelector.Select(configured, _ => throw new InvalidOperationException("must not be asked"));
        Assert.Equal(expected, mode);
        Assert.Contains("forced", reason);
    }

    [Theory]
    [InlineData(true, InfrastructureMode.Containers)]
    [InlineData(false, InfrastructureMode.Executables)]
    public void AutoFollowsWhetherTheContainerRuntimeAnswers(bool answers, InfrastructureMode expected)
    {
        Assert.Equal(expected, InfrastructureModeSelector.Select("auto", _ => answers).Mode);
        Assert.Equal(expected, InfrastructureModeSelector.Select(null, _ => answers).Mode);
    }

    [Fact]
    public void AnUnknownInfrastructureModeIsOneClearError()
    {
        var error = Assert.Throws<ArgumentException>(() => InfrastructureModeSelector.Select("kubernetes"));
        Assert.Equal("Parameters:infrastructure must be auto, containers or executables, got 'kubernetes'.", error.Message);
    }

    [Fact]
    public void WithAContainerRuntimePostgresAndAzuriteAreContainersWithVolumesUnderTheSameConnectionNames()
    {
        var builder = DistributedApplication.CreateBuilder();
        var database = builder.AddHuatuoDatabase(InfrastructureMode.Containers, _data);
        var blobs = builder.AddHuatuoBlobStorage(InfrastructureMode.Containers, _data);

        Assert.Equal("huatuodb", database.Resource.Name);
        var server = Assert.IsType<PostgresServerResource>(Assert.IsType<PostgresDatabaseResource>(database.Resource).Parent);
        Assert.Contains(server.Annotations.OfType<ContainerMountAnnotation>(), m => m.Source == "huatuo-postgres");

        Assert.Equal("blobs", blobs.Resource.Name);
        var azurite = Assert.IsAssignableFrom<ContainerResource>(Assert.IsType<BlobStorageResource>(blobs.Resource).Parent);
        var image = Assert.Single(azurite.Annotations.OfType<ContainerImageAnnotation>());
        Assert.Equal("mcr.microsoft.com/azure-storage/azurite", $"{image.Registry}/{image.Image}".TrimStart('/'));
        Assert.Contains(azurite.Annotations.OfType<ContainerMountAnnotation>(), m => m.Target == "/data");
    }

    [Fact]
    public void WithoutOnePostgresAndAzuriteAreExecutablesOnTheDataFolder()
    {
        var builder = DistributedApplication.CreateBuilder();
        var database = builder.AddHuatuoDatabase(InfrastructureMode.Executables, _data);
        var blobs = builder.AddHuatuoBlobStorage(InfrastructureMode.Executables, _data);

        var server = Assert.IsType<ExecutablePostgresDatabaseResource>(database.Resource).Parent;
        Assert.Equal(Path.Combine(_data, "postgres"), server.DataDirectory);
        // The password is made before the cluster and kept beside it, so later starts reuse it.
        Assert.True(File.Exists(Path.Combine(_data, "postgres.password")));
        var azurite = Assert.IsType<ExecutableAzuriteResource>(Assert.IsType<BlobStorageResource>(blobs.Resource).Parent);
        Assert.Equal(Path.Combine(_data, "azurite"), azurite.DataDirectory);
        Assert.EndsWith("azurite-blob", azurite.Command);
    }

    [Theory]
    [InlineData("--Parameters:llm-url=not a url", "Parameters:llm-url must be an absolute http(s) URL, got 'not a url'.")]
    [InlineData("--Parameters:llm-url=https://llm.example/v1", "Parameters:llm-model is required with llm-url (the model or Azure OpenAI deployment name).")]
    [InlineData("--Parameters:llm-model=gpt-4o", "Parameters:llm-model or llm-key is set but llm-url is not: set Parameters:llm-url to the endpoint's base URL.")]
    public void ABadLlmEndpointParameterIsOneClearLine(string argument, string message)
    {
        var builder = DistributedApplication.CreateBuilder([argument]);
        Assert.Equal(message, Assert.Throws<AppHostConfigurationException>(() => builder.AddLlmEndpointParameters()).Message);
    }

    [Fact]
    public void ATakenDashboardPortIsOneClearLineInsteadOfADashboardThatNeverBecomesHealthy()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var builder = DistributedApplication.CreateBuilder([$"--DashboardPort={port}"]);
        var error = Assert.Throws<AppHostConfigurationException>(() => builder.ServicePort("DashboardPort", 5080));
        Assert.StartsWith($"Port {port} (DashboardPort) is taken by another program", error.Message);
        Assert.Null(DistributedApplication.CreateBuilder(["--DashboardPort=0"]).ServicePort("DashboardPort", 5080));
        Assert.Throws<AppHostConfigurationException>(() => DistributedApplication.CreateBuilder(["--DashboardPort=http"]).ServicePort("DashboardPort", 5080));
    }

    [Fact]
    public void AnExternalLlmBecomesTheServicesDefaultEndpointWithItsKeyAsASecret()
    {
        var builder = DistributedApplication.CreateBuilder(
            ["--Parameters:llm-url=https://aoai.example", "--Parameters:llm-model=gpt-4o", "--Parameters:llm-key=k", "--Parameters:llm-kind=azure-openai"]);
        var llm = builder.AddLlmEndpointParameters();
        Assert.NotNull(llm);
        Assert.True(llm.Key!.Resource.Secret);
        Assert.Null(DistributedApplication.CreateBuilder().AddLlmEndpointParameters());
    }
}
