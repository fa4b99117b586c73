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
        // Completion order is observed by the clients, so consecutive completions are kept ≥ 13 steps × 25 ms apart:
        // a busy machine delaying one client's continuation must not pass for unfair admission.
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"), maxBatchSize: 1, stepDelay: TimeSpan.FromMilliseconds(25));
        var running = server.PostChatAsync(Chat("first", 40));
        while (server.Scheduler.RunningCount == 0) await Task.Delay(2);
        var finished = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var waiting = new List<Task>();
        for (var i = 0; i < 4; i++)
        {
            var index = i;
            // Each waits in the queue before the next is sent, so arrival order is known.
            var queuedBefore = server.Scheduler.QueuedCount;
            waiting.Add(Task.Run(async () =>
            {
                await server.PostChatAsync(Chat($"waiting {index}", 3 + 5 * (3 - index)));
                finished.Enqueue(index);
            }));
            while (server.Scheduler.QueuedCount == queuedBefore) await Task.Delay(2);
        }
        await running;
        await Task.WhenAll(waiting);
        // With one slot, shorter later requests still wait for every earlier one.
        Assert.Equal([0, 1, 2, 3], finished.ToArray());
    }

    [Fact]
    public async Task FullQueueAnswers429WithRetryAfter()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"), maxBatchSize: 1, maxQueue: 1,
            stepDelay: TimeSpan.FromMilliseconds(10));
        var running = server.PostChatAsync(Chat("first", 60));
        while (server.Scheduler.RunningCount == 0) await Task.Delay(5);
        var queued = server.PostChatAsync(Chat("second", 3));
        while (server.Scheduler.QueuedCount == 0) await Task.Delay(5);

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

        // Nothing queued was lost.
        Assert.Equal(200, (await running).Status);
        Assert.Equal(200, (await queued).Status);
    }

    [Fact]
    public async Task ClientLeavingTheQueueFreesItsPlace()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"), maxBatchSize: 1, maxQueue: 1,
            stepDelay: TimeSpan.FromMilliseconds(10));
        var running = server.PostChatAsync(Chat("first", 80));
        while (server.Scheduler.RunningCount == 0) await Task.Delay(5);

        using (var leaving = new CancellationTokenSource())
        {
            var gone = server.Http.PostAsync("/v1/chat/completions", System.Net.Http.Json.JsonContent.Create(Chat("second", 3)), leaving.Token);
            while (server.Scheduler.QueuedCount == 0) await Task.Delay(5);
            await leaving.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone);
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (server.Scheduler.QueuedCount > 0 && DateTime.UtcNow < deadline) await Task.Delay(5);
        Assert.Equal(0, server.Scheduler.QueuedCount);

        // The place is free while the first request still runs: the next client is queued, not refused.
        var (status, _) = await server.PostChatAsync(Chat("third", 3));
        Assert.Equal(200, status);
        Assert.Equal(200, (await running).Status);
    }

    [Fact]
    public async Task AdminSwitchesTheModelAfterInFlightRequestsFinish()
    {
        var replyB = "Served by model B.";
        await using var server = await InferenceServer.StartAsync(_folders.Create("a"), stepDelay: TimeSpan.FromMilliseconds(10));
        var first = server.Decoder;
        var soloA = Content((await server.PostChatAsync(Chat("in flight", 40))).Body);

        var inFlight = server.PostChatAsync(Chat("in flight", 40));
        while (server.Scheduler.RunningCount == 0) await Task.Delay(5);
        using var switched = await server.Http.PostAsync("/admin/inference/model", System.Net.Http.Json.JsonContent.Create(
            new { path = _folders.Create("b", replyB), model_id = "model-b" }));
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

    public void Dispose() => _folders.Dispose();
}
