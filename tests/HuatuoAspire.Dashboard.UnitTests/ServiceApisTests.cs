using System.Net;
using System.Net.Sockets;
using HuatuoAspire.Dashboard.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HuatuoAspire.Dashboard.UnitTests;

/// <summary>The admin calls on a host with the real service defaults (service discovery and the resilient default client).</summary>
public sealed class ServiceApisTests
{
    [Fact]
    public async Task AnAdminPostGoesToTheDiscoveredServiceOnceEvenWhenItAnswersWithATransientError()
    {
        var port = FreePort();
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        // As Aspire and `huatuo up` announce a service; the dashboard addresses it as https+http://workers.
        builder.Configuration[$"services:{ServiceApis.Workers}:http:0"] = $"http://127.0.0.1:{port}";
        builder.AddServiceDefaults();
        builder.Services.AddServiceApiClients();
        builder.Services.AddSingleton<ServiceApis>();
        await using var app = builder.Build();
        var posts = 0;
        // 503 is what the resilient default client retries; an admin POST must not be repeated.
        app.MapPost("/api/pipeline-runs/7/cancel", () =>
        {
            Interlocked.Increment(ref posts);
            return Results.Problem("busy", statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        await app.StartAsync();

        var apis = app.Services.GetRequiredService<ServiceApis>();
        Assert.Equal(new Uri("https+http://workers/"), apis.BaseAddress(ServiceApis.Workers));
        var answer = await apis.SendAsync(ServiceApis.Workers, "api/pipeline-runs/7/cancel", null, CancellationToken.None);

        Assert.Equal((false, 503, "busy"), (answer.Succeeded, answer.Status, answer.Message));
        Assert.Equal(1, posts);
        // A service nobody announced is a clear answer, not a call to nowhere.
        var missing = await apis.SendAsync(ServiceApis.Trainer, "api/training-runs", null, CancellationToken.None);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, missing.Status);
        Assert.Contains("services__trainer__http__0", missing.Message);
        await app.StopAsync();
    }

    [Theory]
    [InlineData("http://+:5080", "http://127.0.0.1:5080/")]
    [InlineData("http://0.0.0.0:5080", "http://127.0.0.1:5080/")]
    [InlineData("http://localhost:5080", "http://127.0.0.1:5080/")]
    [InlineData("http://[::]:5080", "http://[::1]:5080/")]
    [InlineData("https://10.1.2.3:443/", "https://10.1.2.3/")]
    public void AListeningAddressIsReachedOnLoopbackWhenItBindsEveryAddress(string listening, string reached) =>
        Assert.Equal(new Uri(reached), ListeningAddress.Reachable(listening));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
