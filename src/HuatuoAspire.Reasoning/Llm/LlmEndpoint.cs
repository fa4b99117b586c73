using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Connectors.OpenAI;
using OpenAI;
using ChatResponseFormat = OpenAI.Chat.ChatResponseFormat;
using ChatTokenUsage = OpenAI.Chat.ChatTokenUsage;
using ChatMessageContent = Microsoft.SemanticKernel.ChatMessageContent;
using Polly;
using HuatuoAspire.Domain;

namespace HuatuoAspire.Reasoning.Llm;

/// <summary>
/// One named LLM endpoint reached through Semantic Kernel's OpenAI connector, with a concurrency limit, retries with
/// exponential back-off and jitter that honour Retry-After (Polly, as an HTTP handler so the headers are visible),
/// a per-attempt timeout, token usage and cost per call, and GenAI OpenTelemetry spans.
/// </summary>
public sealed class LlmEndpoint : IDisposable
{
    public const string TelemetryName = "HuatuoAspire.Reasoning";
    public static readonly ActivitySource ActivitySource = new(TelemetryName);
    private static readonly Meter Meter = new(TelemetryName);
    private static readonly Histogram<long> TokenUsage = Meter.CreateHistogram<long>("gen_ai.client.token.usage", "{token}");
    private static readonly Histogram<double> OperationDuration = Meter.CreateHistogram<double>("gen_ai.client.operation.duration", "s");

    private readonly HttpClient _httpClient;
    private readonly IChatCompletionService _chat;
    private readonly SemaphoreSlim _concurrency;
    private readonly ResiliencePipeline _bodyRetry;
    private readonly string _system;
    private volatile bool _structuredOutput;

    public LlmEndpoint(LlmEndpointOptions options, LlmUsageLedger? ledger = null)
    {
        options.Validate();
        Options = options;
        Ledger = ledger ?? new LlmUsageLedger();
        _structuredOutput = options.StructuredOutput;
        _concurrency = new SemaphoreSlim(options.MaxConcurrency, options.MaxConcurrency);
        // A 200 with a cut-off body (a crashing proxy, a dropped stream) fails in the SDK's JSON reader, after the
        // HTTP handler has already seen a success; it is as transient as a 5xx, so it is retried here.
        _bodyRetry = options.MaxRetries == 0 ? ResiliencePipeline.Empty : new ResiliencePipelineBuilder().AddRetry(new Polly.Retry.RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<System.Text.Json.JsonException>(),
            MaxRetryAttempts = options.MaxRetries,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromSeconds(options.RetryBaseDelaySeconds),
        }).Build();
        _system = options.Kind == LlmEndpointKind.AzureOpenAi ? "az.ai.openai" : "openai";

        HttpMessageHandler handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), MaxConnectionsPerServer = 1024 };
        if (options.Kind == LlmEndpointKind.AzureOpenAi) handler = new AzureOpenAiRequestRewriter(options) { InnerHandler = handler };
        handler = new ResilienceHandler(BuildPipeline(options)) { InnerHandler = handler };
        // The pipeline's per-attempt timeout is the real limit; the client timeout only stops a call that never ends.
        _httpClient = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };

        var endpoint = options.Kind == LlmEndpointKind.AzureOpenAi
            ? new Uri($"{options.BaseUrl.ToString().TrimEnd('/')}/openai/deployments/{options.Model}/")
            : options.BaseUrl;
        // The OpenAI SDK's own retries and timeout are off: the Polly handler is the only retry layer.
        var client = new OpenAIClient(new ApiKeyCredential(options.ApiKey ?? "no-key"), new OpenAIClientOptions
        {
            Endpoint = endpoint,
            Transport = new HttpClientPipelineTransport(_httpClient),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = Timeout.InfiniteTimeSpan,
        });
        _chat = new OpenAIChatCompletionService(options.Model, client);
    }

    public LlmEndpointOptions Options { get; }
    public string Name => Options.Name;
    public LlmUsageLedger Ledger { get; }
    public bool StructuredOutputEnabled => _structuredOutput;

    private static ResiliencePipeline<HttpResponseMessage> BuildPipeline(LlmEndpointOptions options)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromSeconds(options.RetryBaseDelaySeconds),
                MaxDelay = TimeSpan.FromSeconds(Math.Max(30, options.RetryBaseDelaySeconds)),
                ShouldRetryAfterHeader = true,
            });
        }
        builder.AddTimeout(TimeSpan.FromSeconds(options.TimeoutSeconds));
        return builder.Build();
    }

    /// <summary>One chat completion. Transient failures are retried inside; what is left is an <see cref="LlmCallException"/>.</summary>
    public async Task<LlmCompletion> CompleteAsync(LlmRequest request, CancellationToken cancellationToken = default)
    {
        await _concurrency.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await CompleteWithoutLimitAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _concurrency.Release();
        }
    }

    private async Task<LlmCompletion> CompleteWithoutLimitAsync(LlmRequest request, CancellationToken cancellationToken)
    {
        using var activity = ActivitySource.StartActivity($"chat {Options.Model}", ActivityKind.Client);
        activity?.SetTag("gen_ai.operation.name", "chat");
        activity?.SetTag("gen_ai.system", _system);
        activity?.SetTag("gen_ai.request.model", Options.Model);
        activity?.SetTag("server.address", Options.BaseUrl.Host);
        activity?.SetTag("server.port", Options.BaseUrl.Port);
        activity?.SetTag("huatuo.llm.endpoint", Name);
        activity?.SetTag("huatuo.llm.purpose", request.Purpose);
        var maxTokens = request.MaxTokens ?? Options.MaxTokens;
        var temperature = request.Temperature ?? Options.Temperature;
        if (maxTokens is not null) activity?.SetTag("gen_ai.request.max_tokens", maxTokens);
        if (temperature is not null) activity?.SetTag("gen_ai.request.temperature", temperature);

        var stopwatch = Stopwatch.StartNew();
        var useSchema = request.ResponseSchema is not null && _structuredOutput;
        try
        {
            ChatMessageContent reply;
            try
            {
                reply = await SendAsync(request, useSchema, maxTokens, temperature, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpOperationException exception) when (useSchema && exception.StatusCode == HttpStatusCode.BadRequest)
            {
                // Perhaps the server does not take json_schema response formats: try once without. Only when that
                // works is structured output turned off for this endpoint (a 400 for another reason fails again).
                useSchema = false;
                activity?.AddEvent(new ActivityEvent("request with response_format rejected; retrying without it"));
                reply = await SendAsync(request, false, maxTokens, temperature, cancellationToken).ConfigureAwait(false);
                _structuredOutput = false;
            }

            var (input, output) = ReadUsage(reply);
            var usage = new LlmUsage(input, output, Options.CostOf(input, output));
            Ledger.Add(Name, usage);
            var elapsed = stopwatch.Elapsed;
            activity?.SetTag("gen_ai.response.model", reply.ModelId ?? Options.Model);
            activity?.SetTag("gen_ai.usage.input_tokens", input);
            activity?.SetTag("gen_ai.usage.output_tokens", output);
            activity?.SetTag("huatuo.llm.cost", (double)usage.Cost);
            var tags = new TagList { { "gen_ai.operation.name", "chat" }, { "gen_ai.system", _system }, { "gen_ai.request.model", Options.Model } };
            OperationDuration.Record(elapsed.TotalSeconds, tags);
            TokenUsage.Record(input, [.. tags, new("gen_ai.token.type", "input")]);
            TokenUsage.Record(output, [.. tags, new("gen_ai.token.type", "output")]);
            return new LlmCompletion(reply.Content ?? "", usage, elapsed, reply.ModelId ?? Options.Model, useSchema);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            activity?.SetStatus(ActivityStatusCode.Error, "cancelled");
            throw;
        }
        catch (Exception exception) when (exception is not LlmCallException)
        {
            activity?.SetTag("error.type", exception.GetType().Name);
            activity?.SetStatus(ActivityStatusCode.Error, exception.Message);
            var body = exception is HttpOperationException { ResponseContent: { Length: > 0 } content } ? $" — {Shorten(content)}" : "";
            throw new LlmCallException(Name, $"{request.Purpose} failed after retries: {exception.Message}{body}", exception);
        }
    }

    private Task<ChatMessageContent> SendAsync(LlmRequest request, bool useSchema, int? maxTokens, double? temperature, CancellationToken cancellationToken) =>
        (request.RetryUnreadableReply ? _bodyRetry : ResiliencePipeline.Empty).ExecuteAsync(token => new ValueTask<ChatMessageContent>(SendOnceAsync(request, useSchema, maxTokens, temperature, token)), cancellationToken).AsTask();

    private async Task<ChatMessageContent> SendOnceAsync(LlmRequest request, bool useSchema, int? maxTokens, double? temperature, CancellationToken cancellationToken)
    {
        var history = new ChatHistory();
        foreach (var turn in request.Messages)
        {
            var role = turn.Role switch
            {
                ChatRole.System => AuthorRole.System,
                ChatRole.Assistant => AuthorRole.Assistant,
                _ => AuthorRole.User,
            };
            history.AddMessage(role, turn.Content);
        }
        var settings = new OpenAIPromptExecutionSettings { MaxTokens = maxTokens, Temperature = temperature, TopP = request.TopP };
        if (useSchema && request.ResponseSchema is { } schema)
            settings.ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat(schema.Name, BinaryData.FromString(schema.Schema), jsonSchemaIsStrict: true);
        var replies = await _chat.GetChatMessageContentsAsync(history, settings, cancellationToken: cancellationToken).ConfigureAwait(false);
        return replies.Count > 0 ? replies[0] : throw new LlmCallException(Name, $"{request.Purpose}: the reply has no choices");
    }

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";

    private static (long Input, long Output) ReadUsage(ChatMessageContent reply)
    {
        if (reply.Metadata?.TryGetValue("Usage", out var value) == true && value is ChatTokenUsage usage)
            return (usage.InputTokenCount, usage.OutputTokenCount);
        return (0, 0);
    }

    /// <summary>
    /// Asks for JSON and validates it. Unparsable or invalid output gets one repair turn that shows the model its
    /// reply and the error; what is still wrong is returned as an error with every raw output kept.
    /// </summary>
    public async Task<StructuredCompletion<T>> CompleteJsonAsync<T>(LlmRequest request, JsonValidator<T> validate, CancellationToken cancellationToken = default)
        where T : class
    {
        var raws = new List<string>();
        var usage = LlmUsage.None;
        var messages = request.Messages.ToList();
        string error = "";
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var completion = await CompleteAsync(request with { Messages = messages }, cancellationToken).ConfigureAwait(false);
            raws.Add(completion.Text);
            usage += completion.Usage;
            if (JsonReply.TryParseObject(completion.Text, out var json, out error))
            {
                var value = validate(json, out error);
                if (value is not null) return new StructuredCompletion<T>(value, null, raws, usage);
            }
            messages = [.. request.Messages, new ChatTurn(ChatRole.Assistant, completion.Text),
                new ChatTurn(ChatRole.User, $"Your reply could not be used: {error}. Reply again with only the JSON object in exactly the format requested, with no other text.")];
        }
        return new StructuredCompletion<T>(null, error, raws, usage);
    }

    public void Dispose()
    {
        _httpClient.Dispose();
        _concurrency.Dispose();
    }

    /// <summary>Azure OpenAI wants an api-key header and an api-version query instead of a bearer token.</summary>
    private sealed class AzureOpenAiRequestRewriter(LlmEndpointOptions options) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Authorization = null;
            request.Headers.Remove("api-key");
            request.Headers.Add("api-key", options.ApiKey);
            if (request.RequestUri is { } uri && !uri.Query.Contains("api-version=", StringComparison.Ordinal))
            {
                var separator = string.IsNullOrEmpty(uri.Query) ? "?" : "&";
                request.RequestUri = new Uri(uri + separator + "api-version=" + Uri.EscapeDataString(options.AzureApiVersion));
            }
            return base.SendAsync(request, cancellationToken);
        }
    }
}

/// <summary>The named endpoints of a process, built from configuration and shared by every job.</summary>
public sealed class LlmEndpointRegistry : IDisposable
{
    private readonly Dictionary<string, LlmEndpoint> _endpoints;

    /// <param name="defaultName">The endpoint a run uses when it names none (<c>Llm:DefaultEndpoint</c>; our own
    /// inference service unless configured otherwise).</param>
    public LlmEndpointRegistry(IEnumerable<LlmEndpointOptions> endpoints, LlmUsageLedger? ledger = null, string? defaultName = null)
    {
        Ledger = ledger ?? new LlmUsageLedger();
        DefaultName = string.IsNullOrWhiteSpace(defaultName) ? LlmConfiguration.DefaultEndpointName : defaultName;
        _endpoints = endpoints.ToDictionary(o => o.Name, o => new LlmEndpoint(o, Ledger), StringComparer.OrdinalIgnoreCase);
    }

    public LlmUsageLedger Ledger { get; }
    public IReadOnlyCollection<string> Names => _endpoints.Keys;
    public string DefaultName { get; }

    /// <summary>The endpoint called <paramref name="name"/>, or the default one when no name is given.</summary>
    public LlmEndpoint Get(string? name = null)
    {
        name ??= DefaultName;
        return _endpoints.TryGetValue(name, out var endpoint)
            ? endpoint
            : throw new LlmConfigurationException($"No LLM endpoint named '{name}' (configured: {string.Join(", ", _endpoints.Keys)}); add Llm:Endpoints:{name}:BaseUrl and :Model.");
    }

    public void Dispose()
    {
        foreach (var endpoint in _endpoints.Values) endpoint.Dispose();
    }
}
