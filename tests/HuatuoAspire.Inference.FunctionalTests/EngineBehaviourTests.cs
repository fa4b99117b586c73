using System.Text;
using System.Text.Json.Nodes;
using HuatuoAspire.Inference.Serving;
using Microsoft.Extensions.Logging.Abstractions;

namespace HuatuoAspire.Inference.FunctionalTests;

/// <summary>The built-in tiny model (random Llama, byte tokenizer), made once for the engine tests of this class.</summary>
public sealed class TinyEngineModel : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "huatuo-engine-behaviour-" + Guid.NewGuid().ToString("N"));

    public string Folder { get; private set; } = "";
    public EngineModelLoader Loader { get; } = new(NullLogger<EngineModelLoader>.Instance);

    public async Task InitializeAsync() => Folder = await Loader.EnsureDefaultModelAsync(_dir, CancellationToken.None);

    public Task DisposeAsync()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    public Task<InferenceServer> ServeAsync(int maxBatchSize = 4, int contextLength = 512, string? apiKey = null, int? prefillBudget = null) =>
        InferenceServer.StartAsync(Folder, Loader, maxBatchSize: maxBatchSize, contextLength: contextLength, apiKey: apiKey, modelId: "tiny",
            configuration: prefillBudget is { } b ? new Dictionary<string, string?> { ["Inference:PrefillTokenBudget"] = b.ToString() } : null);
}

/// <summary>
/// The service's behaviour on the real model engine (chunked batched prefill, decode steps, the byte tokenizer):
/// streaming, batching, stop strings, cancellation on disconnect, logprobs and refused parameters through the
/// official openai npm client.
/// </summary>
public sealed class EngineBehaviourTests(TinyEngineModel tiny) : IClassFixture<TinyEngineModel>
{
    private static Dictionary<string, object?> Chat(string user, int maxTokens, bool stream = false, object? stop = null) => new()
    {
        ["model"] = "tiny",
        ["messages"] = new[] { new { role = "user", content = user } },
        ["temperature"] = 0,
        ["max_tokens"] = maxTokens,
        ["stream"] = stream,
        ["reasoning_format"] = "raw",
        ["stop"] = stop,
    };

    private static string Content(JsonNode body) => body["choices"]![0]!["message"]!["content"]!.GetValue<string>();

    private static async Task<(string Text, List<JsonNode> Chunks)> StreamAsync(InferenceServer server, object body, CancellationToken ct = default)
    {
        using var response = await SseReader.OpenAsync(server.Http, body, ct);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var text = new StringBuilder();
        var chunks = new List<JsonNode>();
        var done = false;
        await foreach (var chunk in SseReader.ReadAsync(response, ct))
        {
            if (chunk is null) { done = true; break; }
            chunks.Add(chunk);
            text.Append(chunk["choices"]!.AsArray().FirstOrDefault()?["delta"]?["content"]?.GetValue<string>());
        }
        Assert.True(done, "the stream did not end with [DONE]");
        return (text.ToString(), chunks);
    }

    [Fact]
    public async Task ConcurrentStreamsShareDecodeStepsAndMatchTheirSequentialReplies()
    {
        await using var server = await tiny.ServeAsync(maxBatchSize: 4, prefillBudget: 48);
        var prompts = Enumerable.Range(0, 4).Select(i => $"Case {i}: a {30 + 7 * i}-year-old with a cough for {i + 2} weeks.").ToArray();
        var alone = new List<JsonNode>();
        foreach (var p in prompts) alone.Add((await server.PostChatAsync(Chat(p, 24))).Body);
        var stepsBefore = server.Scheduler.Steps;

        var streams = await Task.WhenAll(prompts.Select(p =>
        {
            var body = Chat(p, 24, stream: true);
            body["stream_options"] = new { include_usage = true };
            return StreamAsync(server, body);
        }));
        var steps = server.Scheduler.Steps - stepsBefore;
        var tokens = 0;
        for (var i = 0; i < prompts.Length; i++)
        {
            var (text, chunks) = streams[i];
            Assert.Equal(Content(alone[i]), text);
            Assert.Equal("assistant", chunks[0]["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
            var finish = chunks.Last(c => c["choices"]!.AsArray().Count > 0)["choices"]![0]!["finish_reason"]!.GetValue<string>();
            Assert.Equal(alone[i]["choices"]![0]!["finish_reason"]!.GetValue<string>(), finish);
            var usage = chunks[^1]["usage"]!;
            Assert.Equal(alone[i]["usage"]!.ToJsonString(), usage.ToJsonString());
            tokens += usage["completion_tokens"]!.GetValue<int>();
        }
        // ~45-token prompts under a 48-token budget: prefill takes a few steps, then the four streams decode together.
        Assert.True(steps < tokens, $"{steps} steps for {tokens} tokens: the streams did not share decode steps");
    }

    [Fact]
    public async Task RequestJoinsTheRunningBatchAndFinishesFirst()
    {
        await using var server = await tiny.ServeAsync(maxBatchSize: 4, contextLength: 1024);
        // The short request's path is warmed first, with two requests at once so that the client holds two connections:
        // the short one below then costs the server's steps alone, not a new connection or the JIT, while the long one
        // streams (its chunks may be read well after the server wrote them, so the long one is long).
        var warmShort = server.PostChatAsync(Chat("short one", 5));
        var soloLong = Content((await server.PostChatAsync(Chat("long one", 240))).Body);
        Assert.Equal(200, (await warmShort).Status);

        using var longStream = await SseReader.OpenAsync(server.Http, Chat("long one", 240, stream: true));
        var longText = "";
        var shortDone = false;
        var longChunksAfterShort = 0;
        Task<(int, JsonNode)>? shortRequest = null;
        await foreach (var chunk in SseReader.ReadAsync(longStream))
        {
            if (chunk is null) break;
            longText += chunk["choices"]!.AsArray().FirstOrDefault()?["delta"]?["content"]?.GetValue<string>();
            // Once the long request is decoding, a short one arrives; it joins at the next step, not after the long one.
            if (longText.Length > 5 && shortRequest is null) shortRequest = server.PostChatAsync(Chat("short one", 5));
            if (shortRequest is { IsCompleted: true } && !shortDone) shortDone = true;
            else if (shortDone) longChunksAfterShort++;
        }
        Assert.NotNull(shortRequest);
        var (status, shortBody) = await shortRequest;
        Assert.Equal(200, status);
        Assert.Equal(5, shortBody["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.True(longChunksAfterShort > 10, $"the short request finished only {longChunksAfterShort} chunks before the long one ended");
        Assert.Equal(soloLong, longText);
    }

    [Fact]
    public async Task StopStringCutsTheEngineTextBeforeItsFirstOccurrence()
    {
        await using var server = await tiny.ServeAsync();
        const string prompt = "List the symptoms of anemia.";
        var full = Content((await server.PostChatAsync(Chat(prompt, 40))).Body);
        Assert.True(full.Length >= 12, $"the tiny model wrote only '{full}'");
        var stop = full.Substring(8, 3);
        var expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];

        var (status, body) = await server.PostChatAsync(Chat(prompt, 40, stop: new[] { "never-there", stop }));
        Assert.Equal(200, status);
        Assert.Equal(expected, Content(body));
        Assert.Equal("stop", body["choices"]![0]!["finish_reason"]!.GetValue<string>());

        var (streamed, chunks) = await StreamAsync(server, Chat(prompt, 40, stream: true, stop: stop));
        Assert.Equal(expected, streamed);
        Assert.Equal("stop", chunks[^1]["choices"]![0]!["finish_reason"]!.GetValue<string>());

        // The logprobs cover the reply's tokens, not those that spelled the stop string.
        var withLogprobs = Chat(prompt, 40, stop: stop);
        withLogprobs["logprobs"] = true;
        var (_, scored) = await server.PostChatAsync(withLogprobs);
        var spelled = Encoding.UTF8.GetString(scored["choices"]![0]!["logprobs"]!["content"]!.AsArray()
            .SelectMany(e => e!["bytes"]!.AsArray().Select(b => (byte)b!.GetValue<int>())).ToArray());
        Assert.Equal(expected, Content(scored));
        Assert.StartsWith(expected, spelled, StringComparison.Ordinal);
        Assert.DoesNotContain(stop, spelled, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientDisconnectCancelsTheEngineGenerationAndFreesTheRow()
    {
        // The tiny model decodes a token in about a millisecond on a quiet machine, so the request asks for as many as
        // its context holds: a generation the disconnect did not stop would run for seconds and fail the checks below.
        const int maxTokens = 4000;
        await using var server = await tiny.ServeAsync(maxBatchSize: 1, contextLength: 4096);
        var stepsBefore = server.Scheduler.Steps;
        var leftBefore = server.Scheduler.LeftByClients;
        using (var cts = new CancellationTokenSource())
        {
            var response = await SseReader.OpenAsync(server.Http, Chat("Tell me everything about fever.", maxTokens, stream: true), cts.Token);
            var pieces = 0;
            await foreach (var chunk in SseReader.ReadAsync(response, cts.Token))
            {
                if (chunk?["choices"]?.AsArray().FirstOrDefault()?["delta"]?["content"] is not null && ++pieces == 3) break;
            }
            Assert.Equal(1, server.Scheduler.RunningCount);
            await cts.CancelAsync();
            response.Dispose();
        }
        // Generous: a generation the disconnect did not stop ends by itself anyway, and the step count below tells.
        await Eventually.TrueAsync(() => server.Scheduler.RunningCount == 0, TimeSpan.FromSeconds(30),
            "the scheduler to drop the request whose client left", TimeSpan.FromMilliseconds(20));
        Assert.Equal(0, server.Scheduler.RunningCount);
        var stepsAtCancel = server.Scheduler.Steps - stepsBefore;
        // Dropped because its client left, not finished: a generation that ran to max_tokens is not counted here.
        Assert.True(server.Scheduler.LeftByClients == leftBefore + 1, $"{stepsAtCancel} steps: the request was not dropped for its client leaving");
        Assert.True(stepsAtCancel < maxTokens, $"{stepsAtCancel} steps: generation went on after the client left");
        await Task.Delay(200);
        Assert.Equal(stepsAtCancel, server.Scheduler.Steps - stepsBefore);

        // The single row is free for the next client.
        var (status, body) = await server.PostChatAsync(Chat("next", 3));
        Assert.Equal(200, status);
        Assert.Equal(3, body["usage"]!["completion_tokens"]!.GetValue<int>());
    }

    private const string LogprobScript = """
        import OpenAI from 'openai';
        const client = new OpenAI({ baseURL: process.env.HUATUO_BASE_URL, apiKey: 'sk-lp', maxRetries: 0 });
        const ask = { model: 'tiny', temperature: 0, max_tokens: 12, reasoning_format: 'raw',
          messages: [{ role: 'user', content: 'Which vitamin is low in scurvy?' }] };
        const plain = await client.chat.completions.create({ ...ask, logprobs: true, top_logprobs: 3 });
        const bare = await client.chat.completions.create({ ...ask, logprobs: true });
        const none = await client.chat.completions.create(ask);
        const stream = await client.chat.completions.create({ ...ask, logprobs: true, top_logprobs: 3, stream: true });
        let streamed = []; let streamedText = '';
        for await (const chunk of stream) {
          const choice = chunk.choices[0];
          streamedText += choice?.delta?.content ?? '';
          if (choice?.logprobs?.content) streamed.push(...choice.logprobs.content);
        }
        async function refused(extra) {
          try { await client.chat.completions.create({ ...ask, ...extra }); return null; }
          catch (e) { return { status: e.status, param: e.param, code: e.code, message: e.message }; }
        }
        console.log(JSON.stringify({
          plain: plain.choices[0], bare: bare.choices[0].logprobs, none: none.choices[0].logprobs, streamed, streamedText,
          tooMany: await refused({ logprobs: true, top_logprobs: 21 }),
          negative: await refused({ logprobs: true, top_logprobs: -1 }),
          withoutLogprobs: await refused({ top_logprobs: 2 }),
          schema: await refused({ response_format: { type: 'json_schema', json_schema: { name: 'a', schema: { type: 'string', pattern: '^a' } } } }),
          jsonObject: await refused({ response_format: { type: 'json_objects' } }),
          tools: await refused({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] }),
          toolChoice: await refused({ tool_choice: 'required' }),
          text: (await client.chat.completions.create({ ...ask, response_format: { type: 'text' }, tool_choice: 'none' })).choices[0].message.content,
        }));
        """;

    [Fact]
    public async Task LogprobsAndRefusedParametersThroughTheOfficialOpenAiClient()
    {
        await using var server = await tiny.ServeAsync();
        var result = await RunNodeAsync(LogprobScript, server.ApiBase);

        var choice = result["plain"]!;
        var content = choice["message"]!["content"]!.GetValue<string>();
        var entries = choice["logprobs"]!["content"]!.AsArray();
        Assert.Equal(12, entries.Count);
        var bytes = new List<byte>();
        foreach (var e in entries)
        {
            var logprob = e!["logprob"]!.GetValue<double>();
            Assert.InRange(logprob, double.NegativeInfinity, 0);
            var top = e["top_logprobs"]!.AsArray();
            Assert.Equal(3, top.Count);
            // Greedy: the chosen token is the most likely one, and the alternatives come most likely first.
            Assert.Equal(e["token"]!.GetValue<string>(), top[0]!["token"]!.GetValue<string>());
            Assert.Equal(logprob, top[0]!["logprob"]!.GetValue<double>(), 5);
            Assert.True(top[1]!["logprob"]!.GetValue<double>() <= top[0]!["logprob"]!.GetValue<double>());
            Assert.True(top[2]!["logprob"]!.GetValue<double>() <= top[1]!["logprob"]!.GetValue<double>());
            bytes.AddRange(e["bytes"]!.AsArray().Select(b => (byte)b!.GetValue<int>()));
        }
        // The tokens' bytes spell the reply.
        Assert.Equal(content, Encoding.UTF8.GetString(bytes.ToArray()));

        var bare = result["bare"]!["content"]!.AsArray();
        Assert.Equal(entries.Select(e => e!["logprob"]!.GetValue<double>()), bare.Select(e => e!["logprob"]!.GetValue<double>()));
        Assert.All(bare, e => Assert.Empty(e!["top_logprobs"]!.AsArray()));
        Assert.Null(result["none"]);

        Assert.Equal(content, result["streamedText"]!.GetValue<string>());
        Assert.Equal(entries.ToJsonString(), result["streamed"]!.ToJsonString());

        foreach (var (name, param) in new[] { ("tooMany", "top_logprobs"), ("negative", "top_logprobs"), ("withoutLogprobs", "top_logprobs"),
                     ("schema", "response_format.json_schema.schema"), ("jsonObject", "response_format"), ("tools", "tools"), ("toolChoice", "tool_choice") })
        {
            var refused = result[name];
            Assert.True(refused is not null, $"{name} was accepted");
            Assert.Equal(400, refused!["status"]!.GetValue<int>());
            Assert.Equal(param, refused["param"]!.GetValue<string>());
        }
        Assert.Equal("unsupported", result["schema"]!["code"]!.GetValue<string>());
        Assert.Contains("'pattern' at #", result["schema"]!["message"]!.GetValue<string>());
        Assert.Equal("unsupported", result["tools"]!["code"]!.GetValue<string>());
        Assert.Equal(content, result["text"]!.GetValue<string>());
    }

    [Fact]
    public async Task PipelineLlmEndpointFallsBackToFreeTextWhenTheServiceRefusesItsJsonSchema()
    {
        await using var server = await tiny.ServeAsync(apiKey: "sk-pipe");
        using var endpoint = new HuatuoAspire.Reasoning.Llm.LlmEndpoint(new HuatuoAspire.Reasoning.Llm.LlmEndpointOptions
        {
            Name = "inference",
            BaseUrl = new Uri(server.ApiBase),
            Model = "tiny",
            ApiKey = "sk-pipe",
            MaxTokens = 8,
            Temperature = 0,
            MaxRetries = 0,
        });
        // A pattern is outside the subset structured output enforces, so the service refuses this schema.
        var schema = new HuatuoAspire.Reasoning.Llm.JsonSchemaFormat("verdict",
            """{"type":"object","properties":{"correct":{"type":"string","pattern":"^(yes|no)$"}},"required":["correct"],"additionalProperties":false}""");
        var request = HuatuoAspire.Reasoning.Llm.LlmRequest.FromPrompt("Is 2 + 2 = 4? Answer in JSON.", "verify", schema);

        // The json_schema request is refused with a 400 naming response_format; the endpoint retries once without it.
        var first = await endpoint.CompleteAsync(request);
        Assert.False(first.StructuredOutputUsed);
        Assert.Equal(8, first.Usage.OutputTokens);
        var plain = Content((await server.PostChatAsync(new Dictionary<string, object?>
        {
            ["model"] = "tiny", ["temperature"] = 0, ["max_tokens"] = 8,
            ["messages"] = new[] { new { role = "user", content = "Is 2 + 2 = 4? Answer in JSON." } },
        }, "sk-pipe")).Body);
        Assert.Equal(plain, first.Text);
        // Later calls go straight to free text.
        Assert.False((await endpoint.CompleteAsync(request)).StructuredOutputUsed);
    }

    private static async Task<JsonNode> RunNodeAsync(string script, string baseUrl)
    {
        NodeScript.RequirePackage("openai");
        var stdout = await NodeScript.EvaluateModuleAsync(script, new Dictionary<string, string> { ["HUATUO_BASE_URL"] = baseUrl }, TimeSpan.FromSeconds(90));
        return JsonNode.Parse(stdout)!;
    }
}
