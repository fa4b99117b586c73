using System.Text.Json;
using HuatuoAspire.Inference.Contracts;
using HuatuoAspire.Inference.Scheduling;
using HuatuoAspire.Inference.Serving;

namespace HuatuoAspire.Inference.Apis;

/// <summary>The OpenAI-compatible endpoints: <c>/v1/chat/completions</c> (streaming and not) and <c>/v1/models</c>.</summary>
public static class ChatCompletionsApi
{
    public static RouteGroupBuilder MapChatCompletionsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").AddEndpointFilter<ApiKeyFilter>();
        api.MapPost("/chat/completions", CreateChatCompletion)
            .WithName("CreateChatCompletion")
            .WithSummary("Generates the assistant's reply to a conversation (OpenAI chat completions; stream = true for server-sent events).");
        api.MapGet("/models", ListModels)
            .WithName("ListModels")
            .WithSummary("Lists the served model (OpenAI list shape); owned_by says where its weights came from.");
        return api;
    }

    public static IResult ListModels(ContinuousBatchScheduler scheduler)
    {
        var model = scheduler.Current;
        var data = model is null
            ? Array.Empty<ModelDto>()
            : [new ModelDto(model.Id, "model", model.LoadedAt.ToUnixTimeSeconds(), model.OwnedBy)];
        return Results.Json(new ModelListResponse("list", data), InferenceJson.Options);
    }

    public static async Task CreateChatCompletion(HttpContext http, ContinuousBatchScheduler scheduler)
    {
        var ct = http.RequestAborted;
        GenerationJob job;
        ChatCompletionRequest request;
        try
        {
            request = await ChatRequestValidator.ReadAsync(http.Request, ct);
            job = scheduler.Submit(ChatRequestValidator.Validate(request), ct);
        }
        catch (InferenceRequestException e)
        {
            await WriteErrorAsync(http, e);
            return;
        }

        // Nothing is written until the request has joined the batch: an error found at admission still gets its status.
        Admitted admitted;
        try
        {
            if (!await job.Events.WaitToReadAsync(ct) || !job.Events.TryRead(out var first)) return;
            switch (first)
            {
                case Failed { Error: InferenceRequestException refused }:
                    await WriteErrorAsync(http, refused);
                    return;
                case Failed { Error: var error }:
                    await WriteErrorAsync(http, AsServerError(error));
                    return;
                default:
                    admitted = (Admitted)first;
                    break;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return; // The client left while queued; the scheduler drops the job when it reaches it.
        }

        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var separate = request.ReasoningFormat != "raw";
        try
        {
            if (request.Stream == true)
            {
                await StreamAsync(http, job, admitted, id, created, separate, request.StreamOptions?.IncludeUsage == true, ct);
            }
            else
            {
                await ReplyAsync(http, job, admitted, id, created, separate, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client disconnected: its token is cancelled, so the scheduler frees the slot before its next step.
        }
    }

    private static async Task ReplyAsync(HttpContext http, GenerationJob job, Admitted admitted, string id, long created, bool separate,
        CancellationToken ct)
    {
        var text = new System.Text.StringBuilder();
        var logprobs = job.Request.Logprobs ? new List<TokenLogprobDto>() : null;
        Finished? finished = null;
        await foreach (var e in job.Events.ReadAllAsync(ct))
        {
            switch (e)
            {
                case TextDelta d:
                    text.Append(d.Text);
                    if (d.Logprobs is not null) logprobs?.AddRange(d.Logprobs);
                    break;
                case Finished f: finished = f; break;
                case Failed f:
                    await WriteErrorAsync(http, f.Error as InferenceRequestException ?? AsServerError(f.Error));
                    return;
            }
        }
        if (finished is null) return;
        var (reasoning, content) = separate ? ReasoningStreamSplitter.Split(text.ToString()) : (null, text.ToString());
        var response = new ChatCompletionResponse(id, "chat.completion", created, admitted.ModelId,
            [new ChatCompletionChoice(0, new AssistantMessageDto("assistant", content, reasoning), finished.Reason,
                logprobs is null ? null : new LogprobsDto(logprobs, null))],
            Usage(finished));
        await http.Response.WriteAsJsonAsync(response, InferenceJson.Options, ct);
    }

    private static async Task StreamAsync(HttpContext http, GenerationJob job, Admitted admitted, string id, long created, bool separate,
        bool includeUsage, CancellationToken ct)
    {
        // The status line waits for the first event, which comes after the prompt's prefill: a failure there (a device
        // error, say) is still an HTTP error with its status, as OpenAI answers; only later failures are reported in-band.
        await using var events = job.Events.ReadAllAsync(ct).GetAsyncEnumerator(ct);
        if (!await events.MoveNextAsync()) return;
        if (events.Current is Failed early)
        {
            await WriteErrorAsync(http, early.Error as InferenceRequestException ?? AsServerError(early.Error));
            return;
        }
        var sse = new ServerSentEventWriter(http.Response);
        await sse.StartAsync(ct);
        var splitter = separate ? new ReasoningStreamSplitter() : null;
        ChatCompletionChunk Chunk(ChunkDelta delta, string? finish, IReadOnlyList<TokenLogprobDto>? logprobs = null) =>
            new(id, "chat.completion.chunk", created, admitted.ModelId,
                [new ChatCompletionChunkChoice(0, delta, finish, logprobs is null ? null : new LogprobsDto(logprobs, null))], null);
        // Logprobs of text the reasoning splitter still holds go out with the next chunk that has text (or on their own at the end).
        List<TokenLogprobDto>? held = null;

        await sse.WriteDataAsync(Chunk(new ChunkDelta("assistant", "", null), null), ct);
        do
        {
            switch (events.Current)
            {
                case TextDelta d:
                {
                    var delta = splitter?.Push(d.Text) ?? new ReplyDelta(null, d.Text);
                    if (d.Logprobs is not null) (held ??= []).AddRange(d.Logprobs);
                    if (!delta.IsEmpty)
                    {
                        await sse.WriteDataAsync(Chunk(new ChunkDelta(null, delta.Content, delta.Reasoning), null, held), ct);
                        held = null;
                    }
                    break;
                }
                case Finished f:
                {
                    if (splitter?.Finish() is { IsEmpty: false } rest)
                    {
                        await sse.WriteDataAsync(Chunk(new ChunkDelta(null, rest.Content, rest.Reasoning), null, held), ct);
                        held = null;
                    }
                    if (held is not null) await sse.WriteDataAsync(Chunk(new ChunkDelta(null, "", null), null, held), ct);
                    await sse.WriteDataAsync(Chunk(new ChunkDelta(null, null, null), f.Reason), ct);
                    if (includeUsage)
                        await sse.WriteDataAsync(new ChatCompletionChunk(id, "chat.completion.chunk", created, admitted.ModelId, [], Usage(f)), ct);
                    await sse.WriteDoneAsync(ct);
                    return;
                }
                case Failed f:
                {
                    // Headers are gone: report in-band, as OpenAI does for mid-stream errors, and end the stream.
                    var error = f.Error as InferenceRequestException ?? AsServerError(f.Error);
                    await sse.WriteDataAsync(error.ToResponse(), ct);
                    return;
                }
            }
        }
        while (await events.MoveNextAsync());
    }

    private static InferenceRequestException AsServerError(Exception e) =>
        new(StatusCodes.Status500InternalServerError, "Generation failed: " + e.Message, "server_error", null, "generation_failed");

    private static UsageDto Usage(Finished f) => new(f.PromptTokens, f.CompletionTokens, f.PromptTokens + f.CompletionTokens);

    public static async Task WriteErrorAsync(HttpContext http, InferenceRequestException e)
    {
        http.Response.StatusCode = e.Status;
        if (e.RetryAfter is { } after) http.Response.Headers.RetryAfter = ((int)Math.Ceiling(after.TotalSeconds)).ToString();
        await http.Response.WriteAsJsonAsync(e.ToResponse(), InferenceJson.Options);
    }
}

/// <summary>With <c>Inference:ApiKey</c> set, every /v1 call must send <c>Authorization: Bearer {key}</c>; 401 in OpenAI's shape otherwise.</summary>
public sealed class ApiKeyFilter(Microsoft.Extensions.Options.IOptions<InferenceOptions> options) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var expected = options.Value.ApiKey;
        if (string.IsNullOrEmpty(expected)) return await next(context);
        var header = context.HttpContext.Request.Headers.Authorization.ToString();
        var given = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
        if (given is not null && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
                System.Text.Encoding.UTF8.GetBytes(given), System.Text.Encoding.UTF8.GetBytes(expected)))
        {
            return await next(context);
        }
        var message = given is null
            ? "No API key was sent. Send it as 'Authorization: Bearer <key>'."
            : "The API key is not valid.";
        await ChatCompletionsApi.WriteErrorAsync(context.HttpContext,
            new InferenceRequestException(StatusCodes.Status401Unauthorized, message, "invalid_request_error", null, "invalid_api_key"));
        return Results.Empty;
    }
}

/// <summary>Server-sent events as OpenAI streams them: <c>data: {json}</c> blocks, then <c>data: [DONE]</c>.</summary>
public sealed class ServerSentEventWriter(HttpResponse response)
{
    public async Task StartAsync(CancellationToken ct)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.StartAsync(ct);
    }

    public async Task WriteDataAsync<T>(T payload, CancellationToken ct)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(payload, InferenceJson.Options);
        await response.Body.WriteAsync("data: "u8.ToArray(), ct);
        await response.Body.WriteAsync(json, ct);
        await response.Body.WriteAsync("\n\n"u8.ToArray(), ct);
        await response.Body.FlushAsync(ct);
    }

    public async Task WriteDoneAsync(CancellationToken ct)
    {
        await response.Body.WriteAsync("data: [DONE]\n\n"u8.ToArray(), ct);
        await response.Body.FlushAsync(ct);
    }
}
