using System.Diagnostics;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.ScriptedLlm;
using HuatuoAspire.Domain;

namespace HuatuoAspire.Reasoning.UnitTests;

public sealed class LlmEndpointTests
{
    private static LlmRequest Ask(string text = "Say hello") => LlmRequest.FromPrompt(text, "test");

    [Fact]
    public async Task RateLimitIsRetriedAfterTheRetryAfterDelay()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.RateLimited(TimeSpan.FromSeconds(1)), ScriptedReply.Text("hello")]);
        using var endpoint = Scripts.Endpoint(server);
        var stopwatch = Stopwatch.StartNew();
        var completion = await endpoint.CompleteAsync(Ask());
        Assert.Equal("hello", completion.Text);
        Assert.Equal(2, server.Requests.Count);
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(900), $"retried after {stopwatch.Elapsed.TotalMilliseconds:0} ms, before Retry-After");
    }

    [Fact]
    public async Task ServerErrorsAndDroppedConnectionsAreRetried()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.ServerError(), ScriptedReply.Drop(), ScriptedReply.Text("finally")]);
        using var endpoint = Scripts.Endpoint(server);
        Assert.Equal("finally", (await endpoint.CompleteAsync(Ask())).Text);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task RetriesEndWithAnErrorNamingEndpointAndStatus()
    {
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Overloaded());
        using var endpoint = Scripts.Endpoint(server, o => o with { MaxRetries = 1 });
        var error = await Assert.ThrowsAsync<LlmCallException>(() => endpoint.CompleteAsync(Ask()));
        Assert.Contains("'test'", error.Message);
        Assert.Contains("503", error.Message);
        Assert.Equal(2, server.Requests.Count);
    }

    [Fact]
    public async Task BadRequestIsNotRetried()
    {
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.BadRequest("context too long"));
        using var endpoint = Scripts.Endpoint(server);
        await Assert.ThrowsAsync<LlmCallException>(() => endpoint.CompleteAsync(Ask()));
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task SlowAnswerTimesOutPerAttemptThenSucceeds()
    {
        // The late answer would come after 30 s: "on time" (and well under 30 s) means the first attempt was cut by its
        // 2 s timeout. The timeout is long enough that a busy machine still gets the on-time request through; should it
        // cut an attempt before the server saw it, the late answer is merely given to the next attempt (two retries).
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Text("late").After(TimeSpan.FromSeconds(30)), ScriptedReply.Text("on time")]);
        using var endpoint = Scripts.Endpoint(server, o => o with { TimeoutSeconds = 2 });
        var stopwatch = Stopwatch.StartNew();
        Assert.Equal("on time", (await endpoint.CompleteAsync(Ask())).Text);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(20), $"took {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task TimeoutOnEveryAttemptFails()
    {
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("late").After(TimeSpan.FromSeconds(5)));
        using var endpoint = Scripts.Endpoint(server, o => o with { TimeoutSeconds = 0.3, MaxRetries = 1 });
        var error = await Assert.ThrowsAsync<LlmCallException>(() => endpoint.CompleteAsync(Ask()));
        Assert.Contains("test failed", error.Message);
    }

    [Fact]
    public async Task MalformedBodyIsRetried()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Malformed(), ScriptedReply.Text("whole")]);
        using var endpoint = Scripts.Endpoint(server);
        Assert.Equal("whole", (await endpoint.CompleteAsync(Ask())).Text);
    }

    [Fact]
    public async Task ConcurrencyLimitHolds()
    {
        // The first answers wait until two requests are inside at once (15 s at most), so the limit is reached however
        // a busy machine spreads the calls out; the later ones still come at once and would exceed a limit that does not hold.
        var arrived = 0;
        var twoInside = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await ScriptedChatServer.StartAsync(async (_, ct) =>
        {
            if (Interlocked.Increment(ref arrived) == 2) twoInside.TrySetResult();
            await Task.WhenAny(twoInside.Task, Task.Delay(TimeSpan.FromSeconds(15), ct));
            return ScriptedReply.Text("ok").After(TimeSpan.FromMilliseconds(150));
        });
        using var endpoint = Scripts.Endpoint(server, o => o with { MaxConcurrency = 2 });
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => endpoint.CompleteAsync(Ask())));
        Assert.Equal(2, server.MaxConcurrentRequests);
    }

    [Fact]
    public async Task UsageCostAndGenAiSpanAreRecorded()
    {
        var activities = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == LlmEndpoint.TelemetryName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => { lock (activities) activities.Add(activity); },
        };
        ActivitySource.AddActivityListener(listener);
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("ok", promptTokens: 1000, completionTokens: 500));
        var ledger = new LlmUsageLedger();
        using var endpoint = Scripts.Endpoint(server, o => o with { InputCostPerMTok = 2m, OutputCostPerMTok = 8m }, ledger);
        var completion = await endpoint.CompleteAsync(Ask() with { Purpose = "unit-test" });
        await endpoint.CompleteAsync(Ask());

        Assert.Equal(new LlmUsage(1000, 500, 0.006m), completion.Usage);
        Assert.Equal(new LlmUsage(2000, 1000, 0.012m, 2), ledger.Total);
        Activity span;
        lock (activities) span = activities.First(a => (string?)a.GetTagItem("huatuo.llm.purpose") == "unit-test");
        Assert.Equal("chat scripted-model", span.DisplayName);
        Assert.Equal("chat", span.GetTagItem("gen_ai.operation.name"));
        Assert.Equal("openai", span.GetTagItem("gen_ai.system"));
        Assert.Equal("scripted-model", span.GetTagItem("gen_ai.request.model"));
        Assert.Equal(1000L, span.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(500L, span.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.Equal("Bearer test-key", server.Requests[0].Authorization);
    }

    [Fact]
    public async Task JsonSchemaIsSentAndDroppedWhenTheServerRejectsIt()
    {
        await using var server = await ScriptedChatServer.StartAsync(request => request.ResponseFormatType == "json_schema"
            ? ScriptedReply.BadRequest("response_format json_schema is not supported")
            : ScriptedReply.Text("{\"verdict\": \"True\"}"));
        using var endpoint = Scripts.Endpoint(server);
        var request = LlmRequest.FromPrompt("judge", "verify", new JsonSchemaFormat("verdict", """{"type":"object","properties":{"verdict":{"type":"string"}},"required":["verdict"],"additionalProperties":false}"""));
        var first = await endpoint.CompleteAsync(request);
        var second = await endpoint.CompleteAsync(request);
        Assert.False(first.StructuredOutputUsed);
        Assert.False(endpoint.StructuredOutputEnabled);
        Assert.Equal(["json_schema", null, null], server.Requests.Select(r => r.ResponseFormatType));
        Assert.Equal("verdict", server.Requests[0].JsonSchema?["name"]?.GetValue<string>());
        Assert.Equal("{\"verdict\": \"True\"}", second.Text);
    }

    [Fact]
    public async Task BadRequestForAnotherReasonKeepsStructuredOutputOn()
    {
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.BadRequest("prompt too long"));
        using var endpoint = Scripts.Endpoint(server);
        var request = LlmRequest.FromPrompt("judge", "verify", new JsonSchemaFormat("verdict", """{"type":"object","properties":{},"additionalProperties":false}"""));
        var error = await Assert.ThrowsAsync<LlmCallException>(() => endpoint.CompleteAsync(request));
        Assert.Contains("prompt too long", error.Message);
        Assert.True(endpoint.StructuredOutputEnabled);
        Assert.Equal(2, server.Requests.Count);
    }

    [Fact]
    public async Task CancellationStopsAWaitingCall()
    {
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("late").After(TimeSpan.FromSeconds(10)));
        using var endpoint = Scripts.Endpoint(server);
        using var cancel = new CancellationTokenSource();
        // Cancelled once the call is waiting on the server (a fixed 200 ms could fire before the request was even sent).
        var call = endpoint.CompleteAsync(Ask(), cancel.Token);
        await Eventually.TrueAsync(() => server.CurrentConcurrentRequests > 0, TimeSpan.FromSeconds(15),
            "the call to wait on the server", TimeSpan.FromMilliseconds(20));
        Assert.Equal(1, server.CurrentConcurrentRequests);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.Single(server.Requests);
    }
}
