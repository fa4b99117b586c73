using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Evaluation.UnitTests;

/// <summary>Evaluation goes through the pipeline's LLM endpoints: endpoint kind, usage ledger, concurrency limit.</summary>
public sealed class EvaluationLlmPathTests
{
    private static readonly BenchmarkQuestion[] Questions = Enumerable.Range(0, 6)
        .Select(i => new BenchmarkQuestion("Bench", i, $"Question {i}?", [new("A", "Aspirin"), new("B", "Warfarin")], "B", null)).ToArray();

    private sealed class NoResults : IEvaluationResultSink
    {
        public IReadOnlyList<QuestionResult> Existing => [];
        public Task WriteAsync(QuestionResult result, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [Fact]
    public async Task AnAzureOpenAiEndpointIsAskedAtItsDeploymentWithItsKeyAndApiVersion()
    {
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("The answer is B."));
        var options = new EvaluationOptions { Concurrency = 2, MaxRetries = 0 };
        var resource = server.BaseUri.GetLeftPart(UriPartial.Authority);
        using var endpoint = EvaluationRunner.CreateEndpoint(resource, "gpt-4o-deployment", "azure-key", options, LlmEndpointKind.AzureOpenAi);

        var results = await new EvaluationRunner(endpoint, options).RunAsync(Questions, new NoResults());

        Assert.All(results, r => Assert.True(r.Correct));
        Assert.Equal(6, server.Requests.Count);
        Assert.All(server.Requests, r =>
        {
            Assert.StartsWith("/openai/deployments/gpt-4o-deployment/chat/completions?api-version=", r.Path, StringComparison.Ordinal);
            Assert.Equal("azure-key", r.Headers.Single(h => h.Key.Equals("api-key", StringComparison.OrdinalIgnoreCase)).Value);
            Assert.DoesNotContain(r.Headers, h => h.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase));
        });
    }

    [Fact]
    public async Task ANamedEndpointIsSharedItsConcurrencyLimitHoldsAndItsUsageIsInTheRegistryLedger()
    {
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("The answer is B.") with { Delay = TimeSpan.FromMilliseconds(50) });
        using var registry = new LlmEndpointRegistry([new LlmEndpointOptions
        {
            Name = "judge", BaseUrl = new Uri(server.BaseUrl), Model = "scripted-model", MaxConcurrency = 2, MaxRetries = 0,
            InputCostPerMTok = 1_000_000m,
        }]);
        // The run asks for 6 at once; the endpoint, shared with every other job, lets 2 through.
        var options = new EvaluationOptions { Concurrency = 6, MaxRetries = 0 };

        var results = await new EvaluationRunner(registry.Get("judge"), options).RunAsync(Questions, new NoResults());

        Assert.All(results, r => Assert.True(r.Correct));
        Assert.InRange(server.MaxConcurrentRequests, 1, 2);
        var usage = registry.Ledger.ByEndpoint["judge"];
        Assert.True(usage.InputTokens > 0, "the scripted server reports token usage");
        Assert.Equal(usage.InputTokens, (long)usage.Cost);
    }
}
