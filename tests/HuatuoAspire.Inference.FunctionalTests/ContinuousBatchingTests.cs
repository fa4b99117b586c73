using System.Text.Json.Nodes;

namespace HuatuoAspire.Inference.FunctionalTests;

public sealed class ContinuousBatchingTests : IDisposable
{
    private readonly ModelFolders _folders = new();

    private static Dictionary<string, object?> Chat(string user, int maxTokens, bool stream = false) => new()
    {
        ["model"] = "test-model",
        ["messages"] = new[] { new { role = "user", content = user } },
        ["temperature"] = 0,
        ["max_tokens"] = maxTokens,
        ["stream"] = stream,
    };

    private static string Content(JsonNode body) => body["choices"]![0]!["message"]!["content"]!.GetValue<string>();

    [Fact]
    public async Task WaitingRequestsAreAdmittedFirstComeFirstServed()
    {
        // The order is read where it is decided, the decoder's admissions, and the steps are held while the requests
        // line up: client-side completion order and a running request's remaining steps both depend on machine load.
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"), maxBatchSize: 1, stepDelay: TimeSpan.FromMilliseconds(5));
        Task<(int Status, JsonNode Body)> running;
        var waiting = new List<Task<(int Status, JsonNode Body)>>();
        using (server.Decoder.HoldSteps())
        {
            running = server.PostChatAsync(Chat("first", 40));
            await WaitUntilAsync(() => server.Scheduler.RunningCount == 1, "the first request to start");
            for (var i = 0; i < 4; i++)
            {
                // Each waits in the queue before the next is sent, so arrival order is known.
                var queuedBefore = server.Scheduler.QueuedCount;
                waiting.Add(server.PostChatAsync(Chat($"waiting {i}", 3 + 5 * (3 - i))));
                await WaitUntilAsync(() => server.Scheduler.QueuedCount > queuedBefore, $"request {i} to be queued");
            }
        }
        Assert.Equal(200, (await running).Status);
        Assert.All(await Task.WhenAll(waiting), r => Assert.Equal(200, r.Status));
        // With one slot, shorter later requests still wait for every earlier one.
        var admitted = server.Decoder.Joined.ToArray();
        Assert.Equal(5, admitted.Length);
        Assert.Contains("first", admitted[0]);
        for (var i = 0; i < 4; i++) Assert.Contains($"waiting {i}", admitted[i + 1]);
    }

    [Fact]
    public async Task FullQueueAnswers429WithRetryAfter()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"), maxBatchSize: 1, maxQueue: 1,
            stepDelay: TimeSpan.FromMilliseconds(10));
        Task<(int Status, JsonNode Body)> running, queued;
        using (server.Decoder.HoldSteps())
        {
            // Held, the first request keeps the only slot and the second keeps the only queue place until the third is refused.
            running = server.PostChatAsync(Chat("first", 60));
            await WaitUntilAsync(() => server.Scheduler.RunningCount == 1, "the first request to start");
            queued = server.PostChatAsync(Chat("second", 3));
            await WaitUntilAsync(() => server.Scheduler.QueuedCount == 1, "the second request to be queued");

            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = System.Net.Http.Json.JsonContent.Create(Chat("third", 3)),
            };
            using var refused = await server.Http.SendAsync(request);
            Assert.Equal(429, (int)refused.StatusCode);
            Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());
            var error = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["error"]!;
            Assert.Equal("queue_full", error["code"]!.GetValue<string>());
            Assert.Equal("rate_limit_exceeded", error["type"]!.GetValue<string>());
        }

        // Nothing queued was lost.
        Assert.Equal(200, (await running).Status);
        Assert.Equal(200, (await queued).Status);
    }

    [Fact]
    public async Task ClientLeavingTheQueueFreesItsPlace()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"), maxBatchSize: 1, maxQueue: 1,
            stepDelay: TimeSpan.FromMilliseconds(10));
        Task<(int Status, JsonNode Body)> running, third;
        using (server.Decoder.HoldSteps())
        {
            running = server.PostChatAsync(Chat("first", 80));
            await WaitUntilAsync(() => server.Scheduler.RunningCount == 1, "the first request to start");

            using (var leaving = new CancellationTokenSource())
            {
                var gone = server.Http.PostAsync("/v1/chat/completions", System.Net.Http.Json.JsonContent.Create(Chat("second", 3)), leaving.Token);
                await WaitUntilAsync(() => server.Scheduler.QueuedCount == 1, "the second request to be queued");
                await leaving.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone);
            }
            await WaitUntilAsync(() => server.Scheduler.QueuedCount == 0, "the request that left to give up its queue place");

            // The place is free while the first request still runs (its steps are held): the next client is queued, not refused.
            third = server.PostChatAsync(Chat("third", 3));
            await WaitUntilAsync(() => server.Scheduler.QueuedCount == 1 || third.IsCompleted, "the third request to be queued or answered");
            Assert.Equal(1, server.Scheduler.RunningCount);
        }
        Assert.Equal(200, (await third).Status);
        Assert.Equal(200, (await running).Status);
    }

    [Fact]
    public async Task AdminSwitchesTheModelAfterInFlightRequestsFinish()
    {
        var replyB = "Served by model B.";
        await using var server = await InferenceServer.StartAsync(_folders.Create("a"), stepDelay: TimeSpan.FromMilliseconds(10));
        var first = server.Decoder;
        var soloA = Content((await server.PostChatAsync(Chat("in flight", 40))).Body);

        Task<(int Status, JsonNode Body)> inFlight;
        Task<HttpResponseMessage> switching;
        using (first.HoldSteps())
        {
            // Held, the request is still running on model A when the switch arrives, however slow the machine.
            inFlight = server.PostChatAsync(Chat("in flight", 40));
            await WaitUntilAsync(() => server.Scheduler.RunningCount == 1, "the in-flight request to start");
            switching = server.Http.PostAsync("/admin/inference/model", System.Net.Http.Json.JsonContent.Create(
                new { path = _folders.Create("b", replyB), model_id = "model-b" }));
            var loader = (HashChainModelLoader)server.Loader;
            await WaitUntilAsync(() => { lock (loader.Decoders) return loader.Decoders.Count == 2; }, "model B to be loaded");
            Assert.False(first.Disposed);
        }
        using var switched = await switching;
        Assert.Equal(200, (int)switched.StatusCode);

        // The request that was running when the switch came finished on model A, untouched.
        var (status, body) = await inFlight;
        Assert.Equal(200, status);
        Assert.Equal(soloA, Content(body));
        Assert.True(first.Disposed);

        var models = JsonNode.Parse(await server.Http.GetStringAsync("/v1/models"))!;
        Assert.Equal("model-b", models["data"]![0]!["id"]!.GetValue<string>());
        var b = Chat("now", 50);
        b["model"] = "model-b";
        Assert.Equal(replyB, Content((await server.PostChatAsync(b)).Body));
        Assert.Equal(404, (await server.PostChatAsync(Chat("old name", 5))).Status);

        using var missing = await server.Http.PostAsync("/admin/inference/model", System.Net.Http.Json.JsonContent.Create(new { path = "/no/such/folder" }));
        Assert.Equal(400, (int)missing.StatusCode);
        Assert.Contains("/no/such/folder", await missing.Content.ReadAsStringAsync());
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) =>
        Eventually.TrueAsync(condition, TimeSpan.FromSeconds(15), what, TimeSpan.FromMilliseconds(5));

    public void Dispose() => _folders.Dispose();
}
