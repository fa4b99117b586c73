using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.LocalServers;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Search;
using HuatuoAspire.Reasoning.Verification;
using Microsoft.AspNetCore.Builder;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>
/// The pipeline's default LLM is the project's own inference service. End to end: the reasoning-path search, through
/// Semantic Kernel, against the all-in-one host's inference service serving its built-in tiny model. A random tiny
/// model cannot write a JSON chain of thought, so the search must end as a recorded failure with the raw outputs kept.
/// </summary>
[Collection(InfrastructureCollection.Name)]
public sealed class SearchAgainstInferenceServiceTests(InfrastructureFixture fixture)
{
    [Fact]
    public async Task TheSearchRunsAgainstTheInferenceServiceAndRecordsTheModelsRawOutput()
    {
        var port = FreePort.Pick();
        await using var app = await AllInOneHost.CreateAsync(
            new AllInOneOptions(fixture.DataDirectory, $"http://127.0.0.1:{port}", []), fixture.Infrastructure, CancellationToken.None);
        await app.StartAsync();
        // The search starts once the service says its model is loaded; before that it answers 503 model_not_loaded.
        using (var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") })
        {
            var (status, body) = await HostHealth.WaitForHealthyAsync(client, "/health/inference", TimeSpan.FromMinutes(2));
            Assert.True(status == System.Net.HttpStatusCode.OK, $"/health/inference: {status} {body}");
        }

        using var endpoint = new LlmEndpoint(new LlmEndpointOptions
        {
            Name = "inference",
            BaseUrl = new Uri($"http://127.0.0.1:{port}/v1"),
            Model = "default",
            MaxTokens = 24,
            MaxRetries = 0,
            TimeoutSeconds = 120,
        });
        var search = new ReasoningPathSearch(endpoint, new RuleVerifier(), new SearchOptions { MaxDepth = 1, MaxAttempts = 1, Seed = 1 });
        var result = await search.SearchAsync(
            "A patient weighs 70 kg; the dose is 5 mg/kg. How many mg are given?", "350 mg", itemSeed: 0);

        Assert.Equal(SearchStatus.Failed, result.Status);
        Assert.False(string.IsNullOrWhiteSpace(result.FailureReason));
        var step = Assert.Single(result.Steps);
        Assert.Equal(SearchStepKind.InitialReasoning, step.Kind);
        Assert.NotEmpty(step.RawOutputs);
        Assert.All(step.RawOutputs, raw => Assert.NotNull(raw));
        // Usage comes back from the service: the prompt's tokens, and at most 24 generated per call (fewer when the
        // model samples its end-of-turn token).
        Assert.True(result.Usage.InputTokens > 0, $"usage: {result.Usage}");
        Assert.InRange(result.Usage.OutputTokens, step.RawOutputs.Count, 24L * step.RawOutputs.Count);

        await app.StopAsync();
    }
}
