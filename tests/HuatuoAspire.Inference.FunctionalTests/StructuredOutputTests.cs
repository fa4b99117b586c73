using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Model;
using HuatuoAspire.Model.UnitTests.StructuredOutput;

namespace HuatuoAspire.Inference.FunctionalTests;

/// <summary>
/// response_format json_object and json_schema on the real engine with the built-in untrained tiny model: whatever the
/// random weights prefer, at a high temperature, every reply parses and follows the schema, streamed and not.
/// </summary>
public sealed class StructuredOutputTests(TinyEngineModel tiny) : IClassFixture<TinyEngineModel>
{
    private const int Seeds = 10;

    // top_p 1: with random weights a nucleus can leave out the closing quote for a long stretch, and the reply then runs
    // into the context's end (a real model puts its closing quote in the nucleus); top_p has its own test below.
    private static Dictionary<string, object?> Ask(object responseFormat, int seed, bool stream = false, int? maxTokens = null, double topP = 1) => new()
    {
        ["model"] = "tiny",
        ["messages"] = new[] { new { role = "user", content = "Give the patient's record as JSON." } },
        ["temperature"] = 1.5,
        ["top_p"] = topP,
        ["seed"] = seed,
        ["max_tokens"] = maxTokens,
        ["stream"] = stream,
        ["response_format"] = responseFormat,
    };

    private static object Schema(string schema) => new
    {
        type = "json_schema",
        json_schema = new { name = "record", strict = true, schema = JsonNode.Parse(schema) },
    };

    // Content and finish reason, from a plain reply or from a stream's chunks. An untrained model's reply may run to
    // thousands of tokens, and the shared test machine may be slow: the client waits as long as the service generates.
    private static async Task<(string Content, string Finish)> ReplyAsync(InferenceServer server, Dictionary<string, object?> body)
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.BaseUrl), Timeout = TimeSpan.FromMinutes(10) };
        if (body["stream"] is not true)
        {
            using var posted = await http.PostAsJsonAsync("/v1/chat/completions", body);
            var reply = JsonNode.Parse(await posted.Content.ReadAsStringAsync())!;
            Assert.True(posted.IsSuccessStatusCode, reply.ToJsonString());
            var choice = reply["choices"]![0]!;
            return (choice["message"]!["content"]!.GetValue<string>(), choice["finish_reason"]!.GetValue<string>());
        }
        using var response = await SseReader.OpenAsync(http, body);
        var text = new StringBuilder();
        string? finish = null;
        await foreach (var chunk in SseReader.ReadAsync(response))
        {
            if (chunk is null) break;
            var choice = chunk["choices"]!.AsArray().FirstOrDefault();
            text.Append(choice?["delta"]?["content"]?.GetValue<string>());
            finish ??= choice?["finish_reason"]?.GetValue<string>();
        }
        return (text.ToString(), finish!);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task JsonObjectRepliesAreJsonObjectsForEverySeed(bool stream)
    {
        await using var server = await tiny.ServeAsync(maxBatchSize: 8, contextLength: 4096);
        var replies = await Task.WhenAll(Enumerable.Range(0, Seeds).Select(seed => ReplyAsync(server, Ask(new { type = "json_object" }, seed, stream))));
        foreach (var (content, finish) in replies)
        {
            Assert.True(finish == "stop", $"finish_reason {finish} after {content.Length} characters: {content}");
            using var document = JsonDocument.Parse(content);
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        }
        // Random weights: the replies differ from seed to seed, only their shape is the same.
        Assert.True(replies.Select(r => r.Content).Distinct().Count() > Seeds / 2);
    }

    [Theory]
    [InlineData(TestSchemas.EveryKind, false)]
    [InlineData(TestSchemas.EveryKind, true)]
    [InlineData(TestSchemas.ChainOfThought, false)]
    [InlineData(TestSchemas.ChainOfThought, true)]
    public async Task JsonSchemaRepliesFollowTheSchemaForEverySeed(string schema, bool stream)
    {
        await using var server = await tiny.ServeAsync(maxBatchSize: 8, contextLength: 4096);
        var replies = await Task.WhenAll(Enumerable.Range(0, Seeds).Select(seed => ReplyAsync(server, Ask(Schema(schema), seed, stream))));
        foreach (var (content, finish) in replies)
        {
            Assert.True(finish == "stop", $"finish_reason {finish} after {content.Length} characters: {content}");
            Assert.Null(TestSchemas.Problem(schema, content));
        }
    }

    [Fact]
    public async Task TopPAndGreedySamplePickOnlyFromTheTokensTheSchemaAllows()
    {
        await using var server = await tiny.ServeAsync(maxBatchSize: 8, contextLength: 4096);
        var asks = Enumerable.Range(0, Seeds).Select(seed => Ask(Schema(TestSchemas.Verdict), seed, stream: seed % 2 == 1, topP: 0.5)).ToList();
        var greedy = Ask(Schema(TestSchemas.Verdict), 0);
        greedy["temperature"] = 0;
        asks.Add(greedy);
        foreach (var (content, finish) in await Task.WhenAll(asks.Select(a => ReplyAsync(server, a))))
        {
            Assert.True(finish == "stop", $"finish_reason {finish}: {content}");
            Assert.Null(TestSchemas.Problem(TestSchemas.Verdict, content));
        }
    }

    [Fact]
    public async Task AStopStringEndsAConstrainedReplyWhereItAppears()
    {
        await using var server = await tiny.ServeAsync(contextLength: 4096);
        var body = Ask(Schema(TestSchemas.Verdict), 2);
        body["stop"] = "\"sure\"";
        var (content, finish) = await ReplyAsync(server, body);
        Assert.Equal("stop", finish);
        // The reply is cut before the second property's key, which the schema makes it write.
        Assert.Matches("^\\s*\\{\\s*\"verdict\"\\s*:\\s*\"(Pass|Too Simple|Ambiguous Answer|Not Reformulatable)\"\\s*,\\s*$", content);
    }

    [Fact]
    public async Task StreamedAndPlainRepliesOfOneSeedAreTheSameJson()
    {
        await using var server = await tiny.ServeAsync(maxBatchSize: 4, contextLength: 4096);
        var plain = await ReplyAsync(server, Ask(Schema(TestSchemas.EveryKind), 7));
        var streamed = await ReplyAsync(server, Ask(Schema(TestSchemas.EveryKind), 7, stream: true));
        Assert.Equal(plain, streamed);
    }

    [Fact]
    public async Task AReplyMeetsMaxTokensByClosingItsJsonInTimeAndOnlyABudgetTooSmallForAnyValueCutsIt()
    {
        await using var server = await tiny.ServeAsync(contextLength: 4096);
        // The smallest chain of thought, {"CoT":[]}, is 10 bytes: 12 tokens of the byte tokenizer are enough to close it.
        var (content, _) = await ReplyAsync(server, Ask(Schema(TestSchemas.ChainOfThought), 1, maxTokens: 12));
        Assert.InRange(Encoding.UTF8.GetByteCount(content), 2, 12);
        Assert.Null(TestSchemas.Problem(TestSchemas.ChainOfThought, content));
        // 6 are not: the reply is cut where the budget ends and says so.
        var (cut, finish) = await ReplyAsync(server, Ask(Schema(TestSchemas.ChainOfThought), 1, maxTokens: 6));
        Assert.Equal("length", finish);
        Assert.StartsWith("{", cut.TrimStart());
        Assert.Equal(6, Encoding.UTF8.GetByteCount(cut)); // one byte per token with the byte tokenizer
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(cut));
    }

    [Fact]
    public async Task JsonSchemaRepliesOverTheLlama31VocabularyFollowTheSchemaWithinMaxTokens()
    {
        // An untrained tiny model with the real Llama-3.1 tokenizer: 128,256 tokens to mask at every step, most of them
        // allowed inside a string, so only the closing tail (the last tokens of max_tokens) makes the reply end.
        var folder = Path.Combine(Path.GetTempPath(), "huatuo-llama-vocabulary-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (ModelPresets.Create(folder, ModelArchitecture.Llama, ModelPreset.Tiny,
                       Path.Combine(Checkout.NpmFolder, "node_modules", "@lenml", "tokenizer-llama3_1"), seed: 3)) { }
            await using var server = await InferenceServer.StartAsync(folder, tiny.Loader, maxBatchSize: 4, contextLength: 512, modelId: "tiny");
            // Budgets above the schemas' shortest values in bytes (10 and 78), which the cursor counts as one token each.
            foreach (var (schema, maxTokens) in new[] { (TestSchemas.ChainOfThought, 40), (TestSchemas.EveryKind, 100) })
            {
                var asks = Enumerable.Range(0, 4).Select(seed => Ask(Schema(schema), seed, maxTokens: maxTokens)).ToList();
                foreach (var (status, reply) in await Task.WhenAll(asks.Select(a => server.PostChatAsync(a))))
                {
                    Assert.True(status == 200, reply.ToJsonString());
                    var content = reply["choices"]![0]!["message"]!["content"]!.GetValue<string>();
                    Assert.InRange(reply["usage"]!["completion_tokens"]!.GetValue<int>(), 1, maxTokens);
                    Assert.True(TestSchemas.Problem(schema, content) is null, $"{TestSchemas.Problem(schema, content)}: {content}");
                }
                // A reply the budget closed may end on its last token, before the end-of-sequence: "length", and whole.
                var (streamed, _) = await ReplyAsync(server, Ask(Schema(schema), 9, stream: true, maxTokens: maxTokens));
                Assert.True(TestSchemas.Problem(schema, streamed) is null, $"{TestSchemas.Problem(schema, streamed)}: {streamed}");
            }
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task LogprobsOfAConstrainedReplyCoverOnlyAllowedTokens()
    {
        await using var server = await tiny.ServeAsync(contextLength: 4096);
        var body = Ask(new { type = "json_object" }, 3, maxTokens: 40);
        body["logprobs"] = true;
        body["top_logprobs"] = 5;
        var (status, reply) = await server.PostChatAsync(body);
        Assert.Equal(200, status);
        var entries = reply["choices"]![0]!["logprobs"]!["content"]!.AsArray();
        // The first byte of a json_object reply is '{' or whitespace: every reported alternative is one of those.
        var first = entries[0]!["top_logprobs"]!.AsArray().Select(t => t!["token"]!.GetValue<string>()).ToList();
        Assert.All(first, token => Assert.Contains(token, new[] { "{", " ", "\n", "\r", "\t" }));
        Assert.All(entries, e => Assert.True(double.IsFinite(e!["logprob"]!.GetValue<double>())));
    }

    [Fact]
    public async Task ASchemaOutsideTheSupportedSubsetIsRefusedNamingWhatIsNotSupported()
    {
        await using var server = await tiny.ServeAsync();
        var (status, body) = await server.PostChatAsync(Ask(Schema("""
            {"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]+$"},"n":{"type":"integer","minimum":0}}}
            """), 0));
        Assert.Equal(400, status);
        var error = body["error"]!;
        Assert.Equal("unsupported", error["code"]!.GetValue<string>());
        Assert.Equal("response_format.json_schema.schema", error["param"]!.GetValue<string>());
        Assert.Contains("'pattern' at #/properties/code", error["message"]!.GetValue<string>());
        Assert.Contains("'minimum' at #/properties/n", error["message"]!.GetValue<string>());

        (status, body) = await server.PostChatAsync(Ask(new { type = "json_schema" }, 0));
        Assert.Equal(400, status);
        Assert.Equal("response_format.json_schema", body["error"]!["param"]!.GetValue<string>());
    }
}
