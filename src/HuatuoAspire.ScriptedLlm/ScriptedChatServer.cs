using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HuatuoAspire.ScriptedLlm;

/// <summary>Settings of a <see cref="ScriptedChatServer"/>.</summary>
public sealed record ScriptedChatServerOptions
{
    /// <summary>When set, every /v1 request must carry <c>Authorization: Bearer {ApiKey}</c>, else 401.</summary>
    public string? ApiKey { get; init; }

    /// <summary>The ids listed by <c>GET /v1/models</c>; the first is echoed when a request names no model.</summary>
    public IReadOnlyList<string> ModelIds { get; init; } = ["scripted-model"];

    /// <summary>
    /// At most this many requests are answered at once; the rest wait in arrival order, as behind a real engine's
    /// queue (0 = no limit). Waiting requests do not count as concurrent.
    /// </summary>
    public int MaxConcurrentAnswers { get; init; }
}

/// <summary>
/// A real OpenAI-compatible HTTP server (Kestrel on 127.0.0.1, a free port) that answers chat completions from a
/// script: a responder function or a queue of <see cref="ScriptedReply"/>. It records every request and tracks how
/// many are answered at once, so tests can drive any OpenAI client (the OpenAI .NET package, Semantic Kernel, the
/// <c>openai</c> npm package) through success, errors, timeouts and broken bodies.
/// </summary>
public sealed class ScriptedChatServer : IAsyncDisposable
{
    // Nulls are written (finish_reason: null in chunks, as OpenAI does); optional fields are left out by shape instead.
    private static readonly JsonSerializerOptions Compact = new(JsonSerializerDefaults.General);

    private readonly WebApplication _app;
    private readonly Func<RecordedRequest, CancellationToken, Task<ScriptedReply>> _responder;
    private readonly ScriptedChatServerOptions _options;
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentQueue<ScriptedReply> _queue = new();
    private readonly SemaphoreSlim? _answerSlots;
    private int _sequence;
    private int _current;
    private int _max;
    private int _completed;

    private ScriptedChatServer(WebApplication app, Func<RecordedRequest, CancellationToken, Task<ScriptedReply>>? responder,
        ScriptedChatServerOptions options)
    {
        _app = app;
        _options = options;
        _responder = responder ?? DequeueReply;
        _answerSlots = options.MaxConcurrentAnswers > 0 ? new SemaphoreSlim(options.MaxConcurrentAnswers) : null;
    }

    /// <summary>The OpenAI base URL, e.g. <c>http://127.0.0.1:41234/v1</c> (no trailing slash).</summary>
    public string BaseUrl { get; private set; } = "";

    public Uri BaseUri => new(BaseUrl);

    /// <summary>Every chat-completion request received so far, in arrival order.</summary>
    public IReadOnlyList<RecordedRequest> Requests => _requests.OrderBy(r => r.Sequence).ToList();

    /// <summary>Requests being answered right now (including their scripted delay).</summary>
    public int CurrentConcurrentRequests => Volatile.Read(ref _current);

    /// <summary>The most requests answered at once since start (or the last <see cref="ResetCounters"/>).</summary>
    public int MaxConcurrentRequests => Volatile.Read(ref _max);

    /// <summary>Chat-completion requests whose reply has been fully written or aborted.</summary>
    public int CompletedRequests => Volatile.Read(ref _completed);

    /// <summary>Scripted replies still waiting in the queue.</summary>
    public int PendingReplies => _queue.Count;

    /// <summary>Starts a server answering each request with the responder's reply.</summary>
    public static Task<ScriptedChatServer> StartAsync(Func<RecordedRequest, CancellationToken, Task<ScriptedReply>> responder,
        ScriptedChatServerOptions? options = null, CancellationToken cancellationToken = default) =>
        StartCoreAsync(responder, [], options, cancellationToken);

    /// <summary>Starts a server answering each request with the responder's reply.</summary>
    public static Task<ScriptedChatServer> StartAsync(Func<RecordedRequest, ScriptedReply> responder,
        ScriptedChatServerOptions? options = null, CancellationToken cancellationToken = default) =>
        StartCoreAsync((request, _) => Task.FromResult(responder(request)), [], options, cancellationToken);

    /// <summary>
    /// Starts a server answering requests with the queued replies in order. When the queue is empty a request gets
    /// a 500 saying so, which makes an over-eager client fail loudly. <see cref="Enqueue"/> adds more.
    /// </summary>
    public static Task<ScriptedChatServer> StartAsync(IEnumerable<ScriptedReply> replies,
        ScriptedChatServerOptions? options = null, CancellationToken cancellationToken = default) =>
        StartCoreAsync(null, replies, options, cancellationToken);

    public void Enqueue(params ScriptedReply[] replies)
    {
        foreach (var reply in replies)
        {
            _queue.Enqueue(reply);
        }
    }

    public void ResetCounters()
    {
        Volatile.Write(ref _max, Volatile.Read(ref _current));
        Volatile.Write(ref _completed, 0);
    }

    public async ValueTask DisposeAsync()
    {
        using (var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            await _app.StopAsync(stopping.Token).ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
        _answerSlots?.Dispose();
    }

    private static async Task<ScriptedChatServer> StartCoreAsync(Func<RecordedRequest, CancellationToken, Task<ScriptedReply>>? responder,
        IEnumerable<ScriptedReply> replies, ScriptedChatServerOptions? options, CancellationToken cancellationToken)
    {
        options ??= new ScriptedChatServerOptions();
        if (options.ModelIds.Count == 0)
        {
            throw new ArgumentException("ScriptedChatServerOptions.ModelIds must name at least one model.", nameof(options));
        }

        // An empty builder: no appsettings, no ASPNETCORE_URLS from the environment, no console logging noise.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0);
            kestrel.Limits.MaxRequestBodySize = 64 * 1024 * 1024;
        });
        builder.Services.AddRoutingCore();
        builder.Logging.ClearProviders();
        var app = builder.Build();

        var server = new ScriptedChatServer(app, responder, options);
        server.Enqueue(replies.ToArray());
        app.UseRouting();
        app.MapPost("/v1/chat/completions", server.HandleChatAsync);
        app.MapPost("/chat/completions", server.HandleChatAsync);
        // Azure OpenAI's layout: {resource}/openai/deployments/{deployment}/chat/completions?api-version=...
        app.MapPost("/openai/deployments/{deployment}/chat/completions", server.HandleChatAsync);
        app.MapGet("/v1/models", server.HandleModelsAsync);
        app.MapGet("/models", server.HandleModelsAsync);

        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUrl = address.TrimEnd('/') + "/v1";
        return server;
    }

    private Task<ScriptedReply> DequeueReply(RecordedRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(_queue.TryDequeue(out var reply)
            ? reply
            : ScriptedReply.ServerError($"ScriptedChatServer: no scripted reply left for request #{request.Sequence}."));

    private async Task HandleModelsAsync(HttpContext context)
    {
        if (!await AuthorizedAsync(context).ConfigureAwait(false))
        {
            return;
        }

        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await WriteJsonAsync(context, 200, new
        {
            @object = "list",
            data = _options.ModelIds.Select(id => new { id, @object = "model", created, owned_by = "huatuo-scripted" }),
        }).ConfigureAwait(false);
    }

    private async Task HandleChatAsync(HttpContext context)
    {
        var aborted = context.RequestAborted;
        string body;
        using (var reader = new StreamReader(context.Request.Body, Encoding.UTF8))
        {
            body = await reader.ReadToEndAsync(aborted).ConfigureAwait(false);
        }

        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
        var request = RecordedRequest.FromBody(Interlocked.Increment(ref _sequence), context.Request.Path + context.Request.QueryString, headers, body);
        _requests.Enqueue(request);

        if (!await AuthorizedAsync(context).ConfigureAwait(false))
        {
            return;
        }

        if (request.Json is null)
        {
            await WriteErrorAsync(context, ScriptedReply.BadRequest("The request body is not a JSON object.", "invalid_json")).ConfigureAwait(false);
            return;
        }

        if (request.Messages.Count == 0)
        {
            await WriteErrorAsync(context, ScriptedReply.BadRequest("'messages' must be a non-empty array.", "invalid_messages")).ConfigureAwait(false);
            return;
        }

        if (_answerSlots is not null)
        {
            await _answerSlots.WaitAsync(aborted).ConfigureAwait(false);
        }

        var now = Interlocked.Increment(ref _current);
        for (var seen = Volatile.Read(ref _max); now > seen; seen = Volatile.Read(ref _max))
        {
            if (Interlocked.CompareExchange(ref _max, now, seen) == seen)
            {
                break;
            }
        }

        try
        {
            var reply = await _responder(request, aborted).ConfigureAwait(false);
            if (reply.Delay > TimeSpan.Zero)
            {
                await Task.Delay(reply.Delay, aborted).ConfigureAwait(false);
            }

            await AnswerAsync(context, request, reply).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client went away (its timeout or cancellation): nothing to answer.
        }
        finally
        {
            Interlocked.Decrement(ref _current);
            Interlocked.Increment(ref _completed);
            _answerSlots?.Release();
        }
    }

    private async Task AnswerAsync(HttpContext context, RecordedRequest request, ScriptedReply reply)
    {
        switch (reply.Kind)
        {
            case ScriptedReplyKind.Error:
                await WriteErrorAsync(context, reply).ConfigureAwait(false);
                return;
            case ScriptedReplyKind.Malformed when !request.Stream:
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(reply.RawBody, context.RequestAborted).ConfigureAwait(false);
                return;
            case ScriptedReplyKind.Drop when !request.Stream || reply.DropAfterChunks == 0:
                context.Abort();
                return;
        }

        var model = request.Model ?? _options.ModelIds[0];
        var id = "chatcmpl-scripted-" + request.Sequence.ToString(CultureInfo.InvariantCulture);
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var promptTokens = reply.PromptTokens ?? request.Messages.Sum(m => CountWords(m.Content));
        var completionTokens = reply.CompletionTokens ?? CountWords(reply.ReasoningContent) + CountWords(reply.Content);
        var usage = new { prompt_tokens = promptTokens, completion_tokens = completionTokens, total_tokens = promptTokens + completionTokens };

        if (!request.Stream)
        {
            await WriteJsonAsync(context, 200, new
            {
                id,
                @object = "chat.completion",
                created,
                model,
                choices = new[]
                {
                    new
                    {
                        index = 0,
                        message = new { role = "assistant", content = reply.Content, reasoning_content = reply.ReasoningContent },
                        finish_reason = reply.FinishReason,
                    },
                },
                usage,
            }).ConfigureAwait(false);
            return;
        }

        var aborted = context.RequestAborted;
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";

        async Task SendAsync(object chunk) =>
            await WriteEventAsync(context, JsonSerializer.Serialize(chunk, Compact)).ConfigureAwait(false);

        object Chunk(object delta, string? finishReason) => new
        {
            id,
            @object = "chat.completion.chunk",
            created,
            model,
            choices = new[] { new { index = 0, delta, finish_reason = finishReason } },
        };

        await SendAsync(Chunk(new { role = "assistant", content = "" }, null)).ConfigureAwait(false);
        if (reply.Kind == ScriptedReplyKind.Malformed)
        {
            await WriteEventAsync(context, reply.RawBody).ConfigureAwait(false);
            return;
        }

        var sent = 0;
        foreach (var piece in SplitForStreaming(reply.ReasoningContent, reply.StreamChunkCharacters))
        {
            await SendAsync(Chunk(new { reasoning_content = piece }, null)).ConfigureAwait(false);
            if (await PausedOrDroppedAsync(++sent).ConfigureAwait(false))
            {
                return;
            }
        }

        foreach (var piece in SplitForStreaming(reply.Content, reply.StreamChunkCharacters))
        {
            await SendAsync(Chunk(new { content = piece }, null)).ConfigureAwait(false);
            if (await PausedOrDroppedAsync(++sent).ConfigureAwait(false))
            {
                return;
            }
        }

        await SendAsync(Chunk(new { }, reply.FinishReason)).ConfigureAwait(false);
        if (request.IncludeUsage)
        {
            await SendAsync(new { id, @object = "chat.completion.chunk", created, model, choices = Array.Empty<object>(), usage }).ConfigureAwait(false);
        }

        await context.Response.WriteAsync("data: [DONE]\n\n", aborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(aborted).ConfigureAwait(false);

        async Task<bool> PausedOrDroppedAsync(int chunksSent)
        {
            if (reply.Kind == ScriptedReplyKind.Drop && chunksSent >= reply.DropAfterChunks)
            {
                context.Abort();
                return true;
            }

            if (reply.StreamChunkDelay > TimeSpan.Zero)
            {
                await Task.Delay(reply.StreamChunkDelay, aborted).ConfigureAwait(false);
            }

            return false;
        }
    }

    private async Task<bool> AuthorizedAsync(HttpContext context)
    {
        if (_options.ApiKey is null || context.Request.Headers.Authorization.ToString() == "Bearer " + _options.ApiKey)
        {
            return true;
        }

        await WriteErrorAsync(context, ScriptedReply.Error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")).ConfigureAwait(false);
        return false;
    }

    private static async Task WriteErrorAsync(HttpContext context, ScriptedReply reply)
    {
        if (reply.RetryAfter is { } retryAfter)
        {
            context.Response.Headers.RetryAfter = Math.Ceiling(retryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture);
            context.Response.Headers["retry-after-ms"] = ((long)retryAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        }

        await WriteJsonAsync(context, reply.StatusCode, new
        {
            error = new { message = reply.ErrorMessage, type = reply.ErrorType, param = (string?)null, code = reply.ErrorCode },
        }).ConfigureAwait(false);
    }

    private static async Task WriteJsonAsync(HttpContext context, int status, object payload)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(payload, Compact), context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task WriteEventAsync(HttpContext context, string data)
    {
        await context.Response.WriteAsync("data: " + data + "\n\n", context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Splits text into stream pieces: fixed-size runs of characters, or words with their following whitespace.</summary>
    internal static IEnumerable<string> SplitForStreaming(string? text, int chunkCharacters)
    {
        if (string.IsNullOrEmpty(text))
        {
            yield break;
        }

        if (chunkCharacters > 0)
        {
            for (var i = 0; i < text.Length; i += chunkCharacters)
            {
                yield return text.Substring(i, Math.Min(chunkCharacters, text.Length - i));
            }

            yield break;
        }

        var start = 0;
        for (var i = 1; i <= text.Length; i++)
        {
            // A piece ends where whitespace is followed by a non-whitespace character.
            if (i == text.Length || (char.IsWhiteSpace(text[i - 1]) && !char.IsWhiteSpace(text[i])))
            {
                yield return text[start..i];
                start = i;
            }
        }
    }

    private static int CountWords(string? text) =>
        string.IsNullOrWhiteSpace(text) ? 0 : text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
}
