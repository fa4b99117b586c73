using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Inference.FunctionalTests;

public sealed class ChatCompletionsTests : IDisposable
{
    private readonly ModelFolders _folders = new();

    private static object Chat(string user, int maxTokens = 24, bool stream = false, object? extra = null) => new Dictionary<string, object?>
    {
        ["model"] = "test-model",
        ["messages"] = new[] { new { role = "user", content = user } },
        ["temperature"] = 0,
        ["max_tokens"] = maxTokens,
        ["stream"] = stream,
    };

    [Fact]
    public async Task NonStreamingReplyHasTheOpenAiShapeAndUsage()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"));
        var (status, body) = await server.PostChatAsync(Chat("What causes fever?", maxTokens: 10));
        Assert.Equal(200, status);
        Assert.Equal("chat.completion", body["object"]!.GetValue<string>());
        Assert.Equal("test-model", body["model"]!.GetValue<string>());
        var choice = body["choices"]![0]!;
        Assert.Equal("assistant", choice["message"]!["role"]!.GetValue<string>());
        Assert.Equal("length", choice["finish_reason"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(choice["message"]!["content"]!.GetValue<string>()));
        var usage = body["usage"]!;
        Assert.Equal(10, usage["completion_tokens"]!.GetValue<int>());
        Assert.True(usage["prompt_tokens"]!.GetValue<int>() > 5);
        Assert.Equal(usage["prompt_tokens"]!.GetValue<int>() + 10, usage["total_tokens"]!.GetValue<int>());

        // Greedy decoding is a pure function of the prompt.
        var (_, again) = await server.PostChatAsync(Chat("What causes fever?", maxTokens: 10));
        Assert.Equal(choice["message"]!["content"]!.GetValue<string>(), again["choices"]![0]!["message"]!["content"]!.GetValue<string>());
    }

    [Fact]
    public async Task StreamingSendsRoleDeltasFinishUsageThenDone()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"));
        var (_, plain) = await server.PostChatAsync(Chat("Describe anemia.", maxTokens: 12));
        var body = new Dictionary<string, object?>((Dictionary<string, object?>)Chat("Describe anemia.", maxTokens: 12, stream: true))
        {
            ["stream_options"] = new { include_usage = true },
        };
        using var response = await SseReader.OpenAsync(server.Http, body);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var chunks = new List<JsonNode?>();
        await foreach (var chunk in SseReader.ReadAsync(response)) chunks.Add(chunk);

        Assert.Null(chunks[^1]); // [DONE]
        Assert.Equal("assistant", chunks[0]!["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
        var usageChunk = chunks[^2]!;
        Assert.Empty(usageChunk["choices"]!.AsArray());
        Assert.Equal(12, usageChunk["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal("length", chunks[^3]!["choices"]![0]!["finish_reason"]!.GetValue<string>());
        var text = string.Concat(chunks.Take(chunks.Count - 2).Select(c => c!["choices"]![0]!["delta"]!["content"]?.GetValue<string>()));
        Assert.Equal(plain["choices"]![0]!["message"]!["content"]!.GetValue<string>(), text);
    }

    [Fact]
    public async Task ThinkingGoesToReasoningContentUnlessRawIsAsked()
    {
        const string reply = "## Thinking\n\nFever and cough suggest pneumonia.\n\n## Final Response\n\nThe answer is B.";
        await using var server = await InferenceServer.StartAsync(_folders.Create("m", reply));

        var (_, separate) = await server.PostChatAsync(Chat("Q", maxTokens: 100));
        var message = separate["choices"]![0]!["message"]!;
        Assert.Equal("Fever and cough suggest pneumonia.", message["reasoning_content"]!.GetValue<string>());
        Assert.Equal("The answer is B.", message["content"]!.GetValue<string>());
        Assert.Equal("stop", separate["choices"]![0]!["finish_reason"]!.GetValue<string>());

        var rawBody = new Dictionary<string, object?>((Dictionary<string, object?>)Chat("Q", maxTokens: 100)) { ["reasoning_format"] = "raw" };
        var (_, raw) = await server.PostChatAsync(rawBody);
        Assert.Equal(reply, raw["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.Null(raw["choices"]![0]!["message"]!["reasoning_content"]);

        using var response = await SseReader.OpenAsync(server.Http, Chat("Q", maxTokens: 100, stream: true));
        string reasoning = "", content = "";
        await foreach (var chunk in SseReader.ReadAsync(response))
        {
            var delta = chunk?["choices"]?.AsArray().FirstOrDefault()?["delta"];
            reasoning += delta?["reasoning_content"]?.GetValue<string>();
            content += delta?["content"]?.GetValue<string>();
        }
        Assert.Equal("Fever and cough suggest pneumonia.", reasoning);
        Assert.Equal("The answer is B.", content);
    }

    [Fact]
    public async Task StopStringsEndTheReplyBeforeTheStopText()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m", "The answer is B. Because of the fever."));
        var body = new Dictionary<string, object?>((Dictionary<string, object?>)Chat("Q", maxTokens: 100)) { ["stop"] = new[] { " Because", "zzz" } };
        var (_, result) = await server.PostChatAsync(body);
        Assert.Equal("The answer is B.", result["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.Equal("stop", result["choices"]![0]!["finish_reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task ErrorsHaveOpenAiShapeStatusAndParam()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"), contextLength: 64, apiKey: "sk-test");

        var (s401, e401) = await server.PostChatAsync(Chat("hi"));
        Assert.Equal(401, s401);
        Assert.Equal("invalid_api_key", e401["error"]!["code"]!.GetValue<string>());
        var (s401b, _) = await server.PostChatAsync(Chat("hi"), apiKey: "sk-wrong");
        Assert.Equal(401, s401b);

        var unknown = new Dictionary<string, object?>((Dictionary<string, object?>)Chat("hi")) { ["model"] = "gpt-9" };
        var (s404, e404) = await server.PostChatAsync(unknown, "sk-test");
        Assert.Equal(404, s404);
        Assert.Equal("model_not_found", e404["error"]!["code"]!.GetValue<string>());
        Assert.Contains("gpt-9", e404["error"]!["message"]!.GetValue<string>());

        var hot = new Dictionary<string, object?>((Dictionary<string, object?>)Chat("hi")) { ["temperature"] = 3.5 };
        var (s400, e400) = await server.PostChatAsync(hot, "sk-test");
        Assert.Equal(400, s400);
        Assert.Equal("temperature", e400["error"]!["param"]!.GetValue<string>());
        Assert.Equal("invalid_request_error", e400["error"]!["type"]!.GetValue<string>());

        var wrongType = new Dictionary<string, object?>((Dictionary<string, object?>)Chat("hi")) { ["max_tokens"] = "many" };
        var (s400b, e400b) = await server.PostChatAsync(wrongType, "sk-test");
        Assert.Equal(400, s400b);
        Assert.Equal("max_tokens", e400b["error"]!["param"]!.GetValue<string>());

        var (s400c, e400c) = await server.PostChatAsync(Chat(string.Join(' ', Enumerable.Repeat("fever", 100))), "sk-test");
        Assert.Equal(400, s400c);
        Assert.Equal("context_length_exceeded", e400c["error"]!["code"]!.GetValue<string>());
        Assert.Contains("64 tokens", e400c["error"]!["message"]!.GetValue<string>());

        var (sOk, _) = await server.PostChatAsync(Chat("hi", maxTokens: 4), "sk-test");
        Assert.Equal(200, sOk);
    }

    [Fact]
    public async Task FailedDecodeStepAnswers500AndTheServiceGoesOn()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"));
        server.Decoder.FailNextStep = true;
        var (status, error) = await server.PostChatAsync(Chat("hi", maxTokens: 5));
        Assert.Equal(500, status);
        Assert.Equal("generation_failed", error["error"]!["code"]!.GetValue<string>());
        Assert.Contains("simulated decode failure", error["error"]!["message"]!.GetValue<string>());
        Assert.Equal(0, server.Decoder.ActiveSlots);

        var (again, _) = await server.PostChatAsync(Chat("hi", maxTokens: 5));
        Assert.Equal(200, again);

        // Streamed, a failure in the step that prefills the prompt still comes as the status, before any event.
        server.Decoder.FailNextStep = true;
        var (streamed, streamError) = await server.PostChatAsync(Chat("hi", maxTokens: 5, stream: true));
        Assert.Equal(500, streamed);
        Assert.Equal("generation_failed", streamError["error"]!["code"]!.GetValue<string>());
        Assert.Equal(0, server.Decoder.ActiveSlots);
    }

    [Fact]
    public async Task ModelsListAndHealthReportTheServedModel()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"));
        var models = JsonNode.Parse(await server.Http.GetStringAsync("/v1/models"))!;
        Assert.Equal("list", models["object"]!.GetValue<string>());
        Assert.Equal("test-model", models["data"]![0]!["id"]!.GetValue<string>());
        Assert.Equal("model", models["data"]![0]!["object"]!.GetValue<string>());
        Assert.StartsWith("hash-chain test model", models["data"]![0]!["owned_by"]!.GetValue<string>());
        var health = await server.Http.GetAsync("/health/inference");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task TheDefaultAliasReachesWhateverModelIsServedAfterASwitch()
    {
        // The pipeline's default endpoint asks for "default"; an admin then serves a checkpoint under another name.
        await using var server = await InferenceServer.StartAsync(_folders.Create("m"), modelId: "default");
        using var switched = await server.Http.PostAsJsonAsync("/admin/inference/model", new { path = _folders.Create("trained", "From the trained one."), model_id = "sft-7" });
        Assert.Equal(HttpStatusCode.OK, switched.StatusCode);

        var asked = new Dictionary<string, object?>((Dictionary<string, object?>)Chat("q", maxTokens: 50)) { ["model"] = "default" };
        var (status, reply) = await server.PostChatAsync(asked);
        Assert.True(status == 200, reply.ToJsonString());
        Assert.Equal(("sft-7", "From the trained one."), (reply["model"]!.GetValue<string>(), reply["choices"]![0]!["message"]!["content"]!.GetValue<string>()));
    }

    public void Dispose() => _folders.Dispose();
}
