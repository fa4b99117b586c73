using System.Text.Json.Nodes;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Evaluation.UnitTests.ScriptedLlm;

/// <summary>The official <c>openai</c> npm client (pinned in tests/npm) against the scripted server, unchanged.</summary>
public sealed class OpenAiNpmClientTests
{
    private const string ClientScript = """
        import OpenAI from 'openai';
        const client = new OpenAI({ baseURL: process.env.SCRIPTED_BASE_URL, apiKey: 'sk-npm', maxRetries: 0 });
        const plain = await client.chat.completions.create({
          model: 'scripted-model', temperature: 0.2, max_tokens: 16, seed: 7,
          messages: [{ role: 'user', content: 'plain' }] });
        const stream = await client.chat.completions.create({
          model: 'scripted-model', stream: true, stream_options: { include_usage: true },
          messages: [{ role: 'user', content: 'stream' }] });
        let text = ''; let streamUsage = null;
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta?.content ?? '';
          if (chunk.usage) streamUsage = chunk.usage;
        }
        let status = null; let retryAfter = null;
        try { await client.chat.completions.create({ model: 'scripted-model', messages: [{ role: 'user', content: 'limit' }] }); }
        catch (e) { status = e.status; retryAfter = e.headers?.get?.('retry-after') ?? e.headers?.['retry-after'] ?? null; }
        console.log(JSON.stringify({ plain: plain.choices[0].message.content, usage: plain.usage, text, streamUsage, status, retryAfter }));
        """;

    [Fact]
    public async Task OfficialNpmClientChatsStreamsAndSeesRateLimits()
    {
        await using var server = await ScriptedChatServer.StartAsync(request => request.LastUserMessage switch
        {
            "plain" => ScriptedReply.Text("plain answer", promptTokens: 3, completionTokens: 2),
            "stream" => ScriptedReply.Text("streamed answer here", promptTokens: 4, completionTokens: 3),
            _ => ScriptedReply.RateLimited(TimeSpan.FromSeconds(3)),
        });

        NodeScript.RequirePackage("openai");
        var stdout = await NodeScript.EvaluateModuleAsync(ClientScript, new Dictionary<string, string> { ["SCRIPTED_BASE_URL"] = server.BaseUrl }, TimeSpan.FromSeconds(60));

        var result = JsonNode.Parse(stdout)!;
        Assert.Equal("plain answer", result["plain"]!.GetValue<string>());
        Assert.Equal(5, result["usage"]!["total_tokens"]!.GetValue<int>());
        Assert.Equal("streamed answer here", result["text"]!.GetValue<string>());
        Assert.Equal(3, result["streamUsage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(429, result["status"]!.GetValue<int>());
        Assert.Equal("3", result["retryAfter"]!.GetValue<string>());

        var requests = server.Requests;
        Assert.Equal(3, requests.Count);
        Assert.Equal("Bearer sk-npm", requests[0].Authorization);
        Assert.Equal(0.2, requests[0].Temperature);
        Assert.Equal(16, requests[0].MaxTokens);
        Assert.Equal(7, requests[0].Seed);
        Assert.True(requests[1].Stream);
    }
}
