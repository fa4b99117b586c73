using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.ScriptedLlm;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Connectors.OpenAI;
using OpenAI;
using OpenAI.Chat;

namespace HuatuoAspire.Evaluation.UnitTests.ScriptedLlm;

public sealed class ScriptedChatServerTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    private static ChatClient OpenAiClient(ScriptedChatServer server, string key = "unused", int maxRetries = 0) =>
        new("scripted-model", new ApiKeyCredential(key), new OpenAIClientOptions
        {
            Endpoint = server.BaseUri,
            RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(maxRetries),
        });

    private static StringContent ChatBody(object body) =>
        new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    [Fact]
    public async Task BaseUrlIsLoopbackWithARealPortAndV1Suffix()
    {
        await using var server = await ScriptedChatServer.StartAsync([]);
        var uri = new Uri(server.BaseUrl);
        Assert.Equal("127.0.0.1", uri.Host);
        Assert.NotEqual(0, uri.Port);
        Assert.Equal("/v1", uri.AbsolutePath);
    }

    [Fact]
    public async Task OpenAiDotnetClientGetsTheScriptedTextAndEverySamplingParameterIsRecorded()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Text("The answer is B.", promptTokens: 11, completionTokens: 5)]);
        var client = OpenAiClient(server, key: "sk-test");
        var options = new ChatCompletionOptions
        {
            Temperature = 0.3f,
            TopP = 0.9f,
            MaxOutputTokenCount = 64,
#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI package; the server must still record it.
            Seed = 42,
#pragma warning restore OPENAI001
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("verdict",
                BinaryData.FromString("""{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}"""), jsonSchemaIsStrict: true),
        };
        options.StopSequences.Add("###");

        ChatCompletion completion = await client.CompleteChatAsync(
            [new SystemChatMessage("You are a doctor."), new UserChatMessage("Which drug?")], options);

        Assert.Equal("The answer is B.", completion.Content[0].Text);
        Assert.Equal(11, completion.Usage.InputTokenCount);
        Assert.Equal(5, completion.Usage.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);

        var request = Assert.Single(server.Requests);
        Assert.Equal("scripted-model", request.Model);
        Assert.Equal(0.3, request.Temperature!.Value, 5);
        Assert.Equal(0.9, request.TopP!.Value, 5);
        Assert.Equal(64, request.MaxTokens);
        Assert.Equal(42, request.Seed);
        Assert.Equal(["###"], request.Stop);
        Assert.Equal("json_schema", request.ResponseFormatType);
        Assert.Equal("verdict", request.JsonSchema!["name"]!.GetValue<string>());
        Assert.Equal("object", request.JsonSchema["schema"]!["type"]!.GetValue<string>());
        Assert.Equal("Bearer sk-test", request.Authorization);
        Assert.Equal("You are a doctor.", request.SystemMessage);
        Assert.Equal("Which drug?", request.LastUserMessage);
        Assert.False(request.Stream);
    }

    [Fact]
    public async Task OpenAiDotnetClientStreamsWordsAndReceivesFinalUsage()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Text("Beta blockers reduce mortality.", promptTokens: 7, completionTokens: 4)]);
        var client = OpenAiClient(server);

        var text = new StringBuilder();
        var updates = 0;
        ChatTokenUsage? usage = null;
        await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage("Why?")],
                           new ChatCompletionOptions()))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            usage ??= update.Usage;
        }

        Assert.Equal("Beta blockers reduce mortality.", text.ToString());
        Assert.True(updates >= 4, $"expected one chunk per word, got {updates} updates");
        Assert.NotNull(usage);
        Assert.Equal(7, usage!.InputTokenCount);
        Assert.Equal(4, usage.OutputTokenCount);
        var request = Assert.Single(server.Requests);
        Assert.True(request.Stream);
        Assert.True(request.IncludeUsage);
    }

    [Fact]
    public async Task SseStreamHasRoleChunkContentChunksFinishChunkUsageChunkThenDone()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Text("ab cd") with { ReasoningContent = "think" }]);
        using var response = await Http.PostAsync(server.BaseUrl + "/chat/completions", ChatBody(new
        {
            model = "m1",
            stream = true,
            stream_options = new { include_usage = true },
            messages = new[] { new { role = "user", content = "one two three" } },
        }));

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var events = (await response.Content.ReadAsStringAsync())
            .Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.StartsWith("data: ", StringComparison.Ordinal) ? e["data: ".Length..] : throw new Xunit.Sdk.XunitException("not an SSE data line: " + e))
            .ToList();

        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>()));
        Assert.All(chunks, c => Assert.Equal("m1", c["model"]!.GetValue<string>()));
        Assert.Equal("assistant", chunks[0]["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
        Assert.Equal("think", chunks[1]["choices"]![0]!["delta"]!["reasoning_content"]!.GetValue<string>());
        Assert.Equal("ab ", chunks[2]["choices"]![0]!["delta"]!["content"]!.GetValue<string>());
        Assert.Equal("cd", chunks[3]["choices"]![0]!["delta"]!["content"]!.GetValue<string>());
        Assert.Null(chunks[3]["choices"]![0]!["finish_reason"]);
        Assert.Equal("stop", chunks[4]["choices"]![0]!["finish_reason"]!.GetValue<string>());
        var usage = chunks[5]["usage"]!;
        Assert.Empty(chunks[5]["choices"]!.AsArray());
        Assert.Equal(3, usage["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(3, usage["completion_tokens"]!.GetValue<int>());
        Assert.Equal(6, usage["total_tokens"]!.GetValue<int>());
        Assert.Equal(6, chunks.Count);
    }

    [Fact]
    public async Task SemanticKernelConnectorWorksUnchangedForChatAndStreaming()
    {
        await using var server = await ScriptedChatServer.StartAsync(request =>
            ScriptedReply.Text(request.LastUserMessage.Contains("stream", StringComparison.Ordinal) ? "streamed reply text" : "plain reply"));
#pragma warning disable SKEXP0010 // the custom-endpoint constructor is how SK reaches any OpenAI-compatible server
        var chat = new OpenAIChatCompletionService("scripted-model", server.BaseUri, apiKey: "sk-sk");
#pragma warning restore SKEXP0010

        var history = new ChatHistory("system prompt");
        history.AddUserMessage("hello");
        var settings = new OpenAIPromptExecutionSettings { Temperature = 0.5, MaxTokens = 32 };
        var message = await chat.GetChatMessageContentAsync(history, settings);
        Assert.Equal("plain reply", message.Content);

        var streamed = new StringBuilder();
        history.AddUserMessage("please stream");
        await foreach (var update in chat.GetStreamingChatMessageContentsAsync(history, settings))
        {
            streamed.Append(update.Content);
        }

        Assert.Equal("streamed reply text", streamed.ToString());
        Assert.Equal(2, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.Equal("Bearer sk-sk", r.Authorization));
        Assert.Equal(0.5, server.Requests[0].Temperature);
        Assert.Equal(32, server.Requests[0].MaxTokens);
        Assert.Equal("system prompt", server.Requests[0].SystemMessage);
        Assert.True(server.Requests[1].Stream);
    }

    [Fact]
    public async Task RateLimitReplyCarriesRetryAfterAndOpenAiErrorJson()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.RateLimited(TimeSpan.FromMilliseconds(1500))]);
        using var response = await Http.PostAsync(server.BaseUrl + "/chat/completions",
            ChatBody(new { model = "m", messages = new[] { new { role = "user", content = "x" } } }));

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(2), response.Headers.RetryAfter!.Delta);
        Assert.Equal("1500", response.Headers.GetValues("retry-after-ms").Single());
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("rate_limit_exceeded", error["type"]!.GetValue<string>());
        Assert.Equal("rate_limit_exceeded", error["code"]!.GetValue<string>());
        Assert.Contains("Rate limit", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(503)]
    [InlineData(400)]
    public async Task OpenAiDotnetClientSurfacesScriptedErrorStatus(int status)
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Error(status, "scripted failure " + status)]);
        var client = OpenAiClient(server);

        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("x")]));
        Assert.Equal(status, error.Status);
        Assert.Contains("scripted failure " + status, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongApiKeyGets401AndRightKeyPasses()
    {
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("ok"), new ScriptedChatServerOptions { ApiKey = "secret" });

        var wrong = await Assert.ThrowsAsync<ClientResultException>(() => OpenAiClient(server, "nope").CompleteChatAsync([new UserChatMessage("x")]));
        Assert.Equal(401, wrong.Status);
        using var models = new HttpRequestMessage(HttpMethod.Get, server.BaseUrl + "/models");
        Assert.Equal(HttpStatusCode.Unauthorized, (await Http.SendAsync(models)).StatusCode);

        ChatCompletion right = await OpenAiClient(server, "secret").CompleteChatAsync([new UserChatMessage("x")]);
        Assert.Equal("ok", right.Content[0].Text);
    }

    [Fact]
    public async Task ModelsEndpointListsConfiguredIds()
    {
        await using var server = await ScriptedChatServer.StartAsync([], new ScriptedChatServerOptions { ModelIds = ["a", "b"] });
        var body = JsonNode.Parse(await Http.GetStringAsync(server.BaseUrl + "/models"))!;
        Assert.Equal("list", body["object"]!.GetValue<string>());
        Assert.Equal(["a", "b"], body["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()));
    }

    [Fact]
    public async Task MalformedBodyBreaksTheClientsJsonParsing()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Malformed()]);
        using var response = await Http.PostAsync(server.BaseUrl + "/chat/completions",
            ChatBody(new { messages = new[] { new { role = "user", content = "x" } } }));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(text));
    }

    [Fact]
    public async Task DropAbortsTheConnectionWithoutAResponse()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Drop()]);
        await Assert.ThrowsAsync<HttpRequestException>(() => Http.PostAsync(server.BaseUrl + "/chat/completions",
            ChatBody(new { messages = new[] { new { role = "user", content = "x" } } })));
    }

    [Fact]
    public async Task DropMidStreamCutsTheStreamAfterTheScriptedChunks()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Drop(afterChunks: 2) with { Content = "one two three four" }]);
        var client = OpenAiClient(server);
        var received = new StringBuilder();

        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage("x")]))
            {
                foreach (var part in update.ContentUpdate)
                {
                    received.Append(part.Text);
                }
            }
        });
        Assert.DoesNotContain("four", received.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DelayIsCancelledWhenTheClientGivesUp()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Text("late").After(TimeSpan.FromSeconds(20))]);
        using var client = new HttpClient();
        using var giveUp = new CancellationTokenSource();
        var started = DateTime.UtcNow;

        // The client gives up once the server is inside the reply's delay (a fixed client timeout raced the request's
        // arrival on a loaded machine: cancelled before the body was read, the request never reached the delay).
        var call = client.PostAsync(server.BaseUrl + "/chat/completions",
            ChatBody(new { messages = new[] { new { role = "user", content = "x" } } }), giveUp.Token);
        await WaitUntilAsync(() => server.CurrentConcurrentRequests == 1);
        await giveUp.CancelAsync();

        await Assert.ThrowsAnyAsync<TaskCanceledException>(() => call);
        await WaitUntilAsync(() => server.CompletedRequests == 1);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15), "the server waited out the 20 s delay");
        Assert.Equal(0, server.CurrentConcurrentRequests);
    }

    [Fact]
    public async Task ConcurrentRequestsAreCountedAndAnswerSlotsLimitThem()
    {
        // Each answer waits until the expected number is being answered at once (a fixed delay let a busy machine
        // spread the requests out so that they never overlapped); a server that cannot overlap them gives up after 15 s.
        await using var unlimited = await ScriptedChatServer.StartAsync(AnswerOnceInside(4));
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => OpenAiClient(unlimited).CompleteChatAsync([new UserChatMessage("q")])));
        Assert.Equal(4, unlimited.MaxConcurrentRequests);
        Assert.Equal(4, unlimited.CompletedRequests);

        // Two answers are held until both are inside; the others wait for a slot however soon they arrive.
        await using var limited = await ScriptedChatServer.StartAsync(AnswerOnceInside(2, then: TimeSpan.FromMilliseconds(150)),
            new ScriptedChatServerOptions { MaxConcurrentAnswers = 2 });
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => OpenAiClient(limited).CompleteChatAsync([new UserChatMessage("q")])));
        Assert.Equal(2, limited.MaxConcurrentRequests);
        Assert.Equal(6, limited.Requests.Count);
    }

    /// <summary>A responder whose answers wait (15 s at most) until <paramref name="count"/> requests have reached it at once.</summary>
    private static Func<RecordedRequest, CancellationToken, Task<ScriptedReply>> AnswerOnceInside(int count, TimeSpan then = default)
    {
        var arrived = 0;
        var allInside = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return async (_, ct) =>
        {
            if (Interlocked.Increment(ref arrived) == count) allInside.TrySetResult();
            await Task.WhenAny(allInside.Task, Task.Delay(TimeSpan.FromSeconds(15), ct));
            return ScriptedReply.Text("x").After(then);
        };
    }

    [Fact]
    public async Task EmptyQueueAnswers500NamingTheRequest()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Text("only one")]);
        var client = OpenAiClient(server);
        ChatCompletion first = await client.CompleteChatAsync([new UserChatMessage("1")]);
        Assert.Equal("only one", first.Content[0].Text);

        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("2")]));
        Assert.Equal(500, error.Status);
        Assert.Contains("no scripted reply left for request #2", error.Message, StringComparison.Ordinal);
        server.Enqueue(ScriptedReply.Text("refilled"));
        ChatCompletion third = await client.CompleteChatAsync([new UserChatMessage("3")]);
        Assert.Equal("refilled", third.Content[0].Text);
    }

    [Fact]
    public async Task InvalidRequestBodyGets400()
    {
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text("never"));
        using var response = await Http.PostAsync(server.BaseUrl + "/chat/completions", new StringContent("{not json", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_json", JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!["code"]!.GetValue<string>());
        Assert.Equal("{not json", Assert.Single(server.Requests).Body);
    }

    [Fact]
    public async Task ArrayContentPartsAreJoinedIntoTheRecordedMessage()
    {
        await using var server = await ScriptedChatServer.StartAsync(r => ScriptedReply.Text(r.LastUserMessage));
        using var request = new HttpRequestMessage(HttpMethod.Post, server.BaseUrl + "/chat/completions")
        {
            Content = ChatBody(new
            {
                messages = new object[] { new { role = "user", content = new[] { new { type = "text", text = "part one, " }, new { type = "text", text = "part two" } } } },
            }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "k");
        using var response = await Http.SendAsync(request);
        var content = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["choices"]![0]!["message"]!["content"]!.GetValue<string>();
        Assert.Equal("part one, part two", content);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(condition(), "condition not reached within 10 s");
    }
}
