using System.Text.Json.Nodes;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Connectors.OpenAI;

namespace HuatuoAspire.Inference.FunctionalTests;

/// <summary>Clients nobody here wrote, unchanged: the official openai npm package and Semantic Kernel's OpenAI connector.</summary>
public sealed class RealClientTests : IDisposable
{
    private const string Reply = "## Thinking\n\nLow hemoglobin means anemia.\n\n## Final Response\n\nThe answer is C.";
    private readonly ModelFolders _folders = new();

    private const string ClientScript = """
        import OpenAI from 'openai';
        const client = new OpenAI({ baseURL: process.env.HUATUO_BASE_URL, apiKey: 'sk-npm', maxRetries: 0 });
        const models = await client.models.list();
        const plain = await client.chat.completions.create({
          model: 'test-model', temperature: 0, max_tokens: 100, seed: 7,
          messages: [{ role: 'system', content: 'You are a doctor.' }, { role: 'user', content: 'Which one?' }] });
        const stream = await client.chat.completions.create({
          model: 'test-model', stream: true, stream_options: { include_usage: true }, max_completion_tokens: 100,
          messages: [{ role: 'user', content: 'Which one?' }] });
        let content = ''; let reasoning = ''; let usage = null; let finish = null;
        for await (const chunk of stream) {
          const delta = chunk.choices[0]?.delta;
          content += delta?.content ?? '';
          reasoning += delta?.reasoning_content ?? '';
          if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
          if (chunk.usage) usage = chunk.usage;
        }
        let status = null; let param = null;
        try { await client.chat.completions.create({ model: 'test-model', top_p: 0, messages: [{ role: 'user', content: 'x' }] }); }
        catch (e) { status = e.status; param = e.param; }
        let unauthorized = null;
        try { await new OpenAI({ baseURL: process.env.HUATUO_BASE_URL, apiKey: 'sk-bad', maxRetries: 0 }).models.list(); }
        catch (e) { unauthorized = e.status; }
        console.log(JSON.stringify({
          models: models.data.map(m => m.id), plain: plain.choices[0].message, usage: plain.usage,
          content, reasoning, streamUsage: usage, finish, status, param, unauthorized }));
        """;

    [Fact]
    public async Task OfficialOpenAiNpmClientChatsAndStreams()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m", Reply), apiKey: "sk-npm");
        NodeScript.RequirePackage("openai");
        var stdout = await NodeScript.EvaluateModuleAsync(ClientScript, new Dictionary<string, string> { ["HUATUO_BASE_URL"] = server.ApiBase }, TimeSpan.FromSeconds(60));

        var result = JsonNode.Parse(stdout)!;
        Assert.Equal("test-model", result["models"]![0]!.GetValue<string>());
        Assert.Equal("The answer is C.", result["plain"]!["content"]!.GetValue<string>());
        Assert.Equal("Low hemoglobin means anemia.", result["plain"]!["reasoning_content"]!.GetValue<string>());
        Assert.True(result["usage"]!["prompt_tokens"]!.GetValue<int>() > 0);
        Assert.Equal("The answer is C.", result["content"]!.GetValue<string>());
        Assert.Equal("Low hemoglobin means anemia.", result["reasoning"]!.GetValue<string>());
        Assert.Equal("stop", result["finish"]!.GetValue<string>());
        Assert.Equal(result["usage"]!["completion_tokens"]!.GetValue<int>(), result["streamUsage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(400, result["status"]!.GetValue<int>());
        Assert.Equal("top_p", result["param"]!.GetValue<string>());
        Assert.Equal(401, result["unauthorized"]!.GetValue<int>());
    }

    [Fact]
    public async Task SemanticKernelConnectorWorksUnchanged()
    {
        await using var server = await InferenceServer.StartAsync(_folders.Create("m", Reply), apiKey: "sk-sk");
#pragma warning restore SKEXP0010
        // The endpoint overload is marked experimental (SKEXP0010); it is the one that points the connector at any OpenAI-compatible server.
#pragma warning disable SKEXP0010
        var chat = new OpenAIChatCompletionService("test-model", new Uri(server.ApiBase), apiKey: "sk-sk");
#pragma warning restore SKEXP0010
        var history = new ChatHistory("You are a careful physician.");
        history.AddUserMessage("Which option fits?");
        var settings = new OpenAIPromptExecutionSettings { Temperature = 0, MaxTokens = 100 };

        var reply = await chat.GetChatMessageContentAsync(history, settings);
        Assert.Equal("The answer is C.", reply.Content);

        var streamed = "";
        await foreach (var part in chat.GetStreamingChatMessageContentsAsync(history, settings)) streamed += part.Content;
        Assert.Equal("The answer is C.", streamed);
    }

    public void Dispose() => _folders.Dispose();
}
