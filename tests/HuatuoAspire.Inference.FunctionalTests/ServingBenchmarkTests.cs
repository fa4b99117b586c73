using HuatuoAspire.Benchmarks.Serving;
using HuatuoAspire.Inference.Clients;

namespace HuatuoAspire.Inference.FunctionalTests;

public sealed class ServingBenchmarkTests : IDisposable
{
    private readonly ModelFolders _folders = new();

    [Fact]
    public async Task BenchmarkCountsEveryTokenAndMeasuresLatencies()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"), maxBatchSize: 4, stepDelay: TimeSpan.FromMilliseconds(3));
        var client = new ChatStreamClient(server.Http, server.BaseUrl, apiKey: null);
        Assert.Equal("test-model", await client.FirstModelAsync(CancellationToken.None));
        var benchmark = new ServingBenchmark(client, "test-model");

        // Steps are held until a second client's request is in the server beside the first (admitted into the same
        // batch, or waiting behind it), so a batch of two or more is seen however the clients' requests are spread by a
        // busy or an idle machine (each lasts only some 30 ms of 3 ms steps).
        Task<ServingBenchmarkResult> run;
        using (server.Decoder.HoldSteps())
        {
            run = benchmark.RunAsync(concurrency: 3, requestsPerClient: 2, maxTokens: 10, CancellationToken.None);
            await Eventually.ReachesAsync(() => Task.FromResult((Running: server.Scheduler.RunningCount, Queued: server.Scheduler.QueuedCount)),
                counts => counts.Running + counts.Queued >= 2, TimeSpan.FromSeconds(15), "a second request in the server beside the first",
                TimeSpan.FromMilliseconds(5));
        }
        var result = await run;

        Assert.Equal(6, result.Requests);
        Assert.Equal(60, result.OutputTokens);
        Assert.True(result.OutputTokensPerSecond > 0);
        Assert.InRange(result.TimeToFirstTokenP50, 0.01, result.TimeToFirstTokenP95);
        // Chunks that arrive in one network read are microseconds apart, so only the p95 must show the step delay.
        Assert.InRange(result.InterTokenP50, 0, result.InterTokenP95);
        Assert.True(result.InterTokenP95 >= 1, $"ITL p95 {result.InterTokenP95} ms is below the 3 ms step delay");
        Assert.Contains(server.Decoder.StepLog, step => step.Length > 1);
    }

    [Fact]
    public void PercentileIsNearestRank()
    {
        double[] values = [5, 1, 4, 2, 3];
        Assert.Equal(3, ServingBenchmark.Percentile(values, 0.5));
        Assert.Equal(5, ServingBenchmark.Percentile(values, 0.95));
        Assert.True(double.IsNaN(ServingBenchmark.Percentile([], 0.5)));
    }

    [Fact]
    public async Task StreamingClientSurfacesServerErrorsWithTheirMessage()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"), apiKey: "sk-right");
        var client = new ChatStreamClient(server.Http, server.ApiBase, apiKey: "sk-wrong");
        var error = await Assert.ThrowsAsync<HttpRequestException>(async () =>
        {
            await foreach (var _ in client.StreamAsync("test-model", [("user", "hi")], 4, 0, CancellationToken.None)) { }
        });
        Assert.Contains("401", error.Message);
        Assert.Contains("API key is not valid", error.Message);
    }

    public void Dispose() => _folders.Dispose();
}
