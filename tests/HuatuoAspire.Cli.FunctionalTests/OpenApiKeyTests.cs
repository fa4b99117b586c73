using System.Net;
using System.Net.Http.Headers;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.LocalServers;
using Microsoft.AspNetCore.Builder;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>Issue 12 item 5: <c>huatuo up</c> beyond loopback serves <c>/v1</c> only with a key, unless told otherwise.</summary>
[Collection(InfrastructureCollection.Name)]
public sealed class OpenApiKeyTests(InfrastructureFixture fixture)
{
    [Fact]
    public async Task ListeningBeyondLoopbackWithoutAnApiKeyIsRefusedWithOneClearLine()
    {
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync("0.0.0.0"));
        Assert.StartsWith("huatuo up listens beyond loopback (http://0.0.0.0:", refused.Message);
        Assert.Contains("--api-key", refused.Message);
        Assert.DoesNotContain('\n', refused.Message);

        // Only the inference service serves /v1: a dashboard-only host is not held to it.
        await using var dashboard = await StartAsync("0.0.0.0", services: ["dashboard"]);
    }

    [Fact]
    public async Task WithAKeyBeyondLoopbackEveryV1CallMustSendIt()
    {
        await using var app = await StartAsync("0.0.0.0", ["--Inference:ApiKey=v1-s3cret"]);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{new Uri(app.Urls.First()).Port}") };
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/v1/models")).StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "v1-s3cret");
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(request)).StatusCode);
    }

    [Fact]
    public async Task AnOpenApiBeyondLoopbackStartsWhenExplicitlyAllowed()
    {
        await using var app = await StartAsync("0.0.0.0", [$"--{OpenApiKeyRule.AllowKey}=true"]);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{new Uri(app.Urls.First()).Port}") };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/models")).StatusCode);
    }

    private async Task<WebApplication> StartAsync(string bindAddress, string[]? args = null, string[]? services = null)
    {
        var app = await AllInOneHost.CreateAsync(new AllInOneOptions(fixture.DataDirectory, $"http://{bindAddress}:{FreePort.Pick()}", args ?? [],
            services ?? ["inference"]), fixture.Infrastructure, CancellationToken.None);
        await app.StartAsync();
        return app;
    }
}
