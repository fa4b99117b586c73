using System.Threading.Channels;
using HuatuoAspire.Inference.Contracts;
using HuatuoAspire.Inference.Serving;
using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.StructuredOutput;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Model.Tokenization.ChatTemplates;

namespace HuatuoAspire.Inference.Scheduling;

/// <summary>What a request's stream carries, in order: Admitted, then TextDelta*, then Finished (or Failed at any point).</summary>
public abstract record GenerationEvent;

/// <summary>The request joined the running batch (its prompt is prefilled).</summary>
public sealed record Admitted(string ModelId, int PromptTokens) : GenerationEvent;

/// <summary>New text; with logprobs asked for, <paramref name="Logprobs"/> has one entry per token consumed since the last delta.</summary>
public sealed record TextDelta(string Text, IReadOnlyList<TokenLogprobDto>? Logprobs = null) : GenerationEvent;

/// <summary><paramref name="Reason"/>: "stop" (EOS token or a stop string) or "length" (max tokens or the context is full).</summary>
public sealed record Finished(string Reason, int PromptTokens, int CompletionTokens) : GenerationEvent;

public sealed record Failed(Exception Error) : GenerationEvent;

/// <summary>
/// A validated chat request, ready to be tokenized for whichever model serves it when it is admitted.
/// <paramref name="ResponseFormat"/>: the JSON grammar the reply must follow (structured output), or null for free text.
/// </summary>
public sealed record GenerationRequest(
    string RequestedModel,
    IReadOnlyList<ChatMessage> Messages,
    int? MaxTokens,
    IReadOnlyList<string> Stop,
    SamplingSettings Sampling,
    bool Logprobs = false,
    JsonGrammar? ResponseFormat = null);

/// <summary>
/// One request's life in the scheduler. The scheduler thread alone touches its decoding state; the request
/// handler reads <see cref="Events"/>. A job is bound to the model that tokenized its prompt.
/// </summary>
public sealed class GenerationJob
{
    private readonly Channel<GenerationEvent> _events = Channel.CreateUnbounded<GenerationEvent>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    private TextStreamDecoder? _decoder;
    private string _pendingText = "";
    private IReadOnlySet<int> _eos = new HashSet<int>();
    private List<TokenLogprobDto>? _pendingLogprobs;
    // Where each pending logprob's token text starts in _pendingText, so that a stop string's tokens can be left out.
    private readonly List<int> _pendingStarts = [];

    public GenerationJob(GenerationRequest request, CancellationToken cancellation)
    {
        Request = request;
        Cancellation = cancellation;
    }

    public GenerationRequest Request { get; }
    public CancellationToken Cancellation { get; }
    public ChannelReader<GenerationEvent> Events => _events.Reader;

    public ServedModel? Model { get; private set; }
    public IReadOnlyList<int> PromptIds { get; private set; } = [];
    public int MaxTokens { get; private set; }
    public int CompletionTokens { get; private set; }
    public int Slot { get; internal set; } = -1;

    /// <summary>The structured-output cursor of this request on its model, when it asked for JSON.</summary>
    public ITokenConstraint? Constraint { get; private set; }

    public bool IsDone { get; private set; }

    /// <summary>
    /// Tokenizes the prompt with <paramref name="model"/>'s chat template and checks it against the context length.
    /// Throws <see cref="InferenceRequestException"/> (404, 400) when the request cannot run on this model.
    /// </summary>
    public void PrepareFor(ServedModel model)
    {
        // "default" names whatever is served: the pipeline's default endpoint keeps working after an admin switches
        // the served checkpoint (served under its own id).
        if (!string.Equals(Request.RequestedModel, model.Id, StringComparison.Ordinal)
            && !string.Equals(Request.RequestedModel, ServedModel.DefaultAlias, StringComparison.Ordinal))
        {
            throw InferenceRequestException.ModelNotFound(Request.RequestedModel, model.Id);
        }
        var ids = ChatPromptEncoder.Encode(model.Tokenizer, Request.Messages);
        if (ids.Count >= model.ContextLength)
        {
            throw InferenceRequestException.ContextLengthExceeded(
                $"This model's maximum context length is {model.ContextLength} tokens, but the messages take {ids.Count} tokens " +
                "(at least one token must be left for the completion).");
        }
        var room = model.ContextLength - ids.Count;
        if (Request.MaxTokens is { } max && max > room)
        {
            throw new InferenceRequestException(StatusCodes.Status400BadRequest,
                $"This model's maximum context length is {model.ContextLength} tokens. The messages take {ids.Count} tokens " +
                $"and max_tokens asks for {max}; at most {room} completion tokens fit.",
                "invalid_request_error", "max_tokens", "context_length_exceeded");
        }
        MaxTokens = Request.MaxTokens ?? room;
        Constraint = Request.ResponseFormat is { } grammar ? StartConstraint(model, grammar, MaxTokens) : null;
        Model = model;
        PromptIds = ids;
        _eos = model.Tokenizer.EosTokenIds;
        _decoder = model.Tokenizer.CreateStreamDecoder(skipSpecialTokens: true);
        _pendingText = "";
        _pendingLogprobs = Request.Logprobs ? [] : null;
        _pendingStarts.Clear();
        CompletionTokens = 0;
    }

    // The token automaton is built once per grammar and tokenizer and cached; this request only gets its own cursor,
    // which closes the value within the request's token budget.
    private static ITokenConstraint StartConstraint(ServedModel model, JsonGrammar grammar, int tokenBudget)
    {
        try
        {
            return TokenVocabulary.For(model.Tokenizer).AutomatonFor(grammar).Begin(tokenBudget);
        }
        catch (InvalidOperationException e)
        {
            throw new InferenceRequestException(StatusCodes.Status400BadRequest, $"response_format cannot be enforced for model '{model.Id}': {e.Message}",
                "invalid_request_error", "response_format", "unsupported");
        }
    }

    internal void Publish(GenerationEvent e) => _events.Writer.TryWrite(e);

    private int _leftQueue;
    private CancellationTokenRegistration _queueWatch;

    /// <summary>Called once when the job stops counting against the queue's bound.</summary>
    internal Action? OnLeftQueue { get; set; }

    // A client that gives up while waiting frees its place in the queue at once.
    internal void WatchForCancellationWhileQueued() => _queueWatch = Cancellation.Register(LeaveQueue);

    internal void LeaveQueue()
    {
        if (Interlocked.Exchange(ref _leftQueue, 1) != 0) return;
        OnLeftQueue?.Invoke();
        // Unregistering from inside the callback itself would wait for it: only let go of it from the scheduler.
        if (!Cancellation.IsCancellationRequested) _queueWatch.Dispose();
    }

    /// <summary>Takes the token the last step produced; returns true when the job has finished.</summary>
    internal bool Accept(SlotToken token)
    {
        var tokenId = token.TokenId;
        CompletionTokens++;
        if (_eos.Contains(tokenId))
        {
            Complete("stop", flushDecoder: true);
            return true;
        }
        if (_pendingLogprobs is not null)
        {
            _pendingLogprobs.Add(Logprob(Model!.Tokenizer, tokenId, token.Logprob, token.TopLogprobs));
            _pendingStarts.Add(_pendingText.Length);
        }
        _pendingText += _decoder!.Push(tokenId);
        if (ReleaseText()) return true;
        if (CompletionTokens >= MaxTokens || PromptIds.Count + CompletionTokens >= Model!.ContextLength)
        {
            Complete("length", flushDecoder: true);
            return true;
        }
        return false;
    }

    /// <summary>Ends the job because the decoder has no room left for it.</summary>
    internal void EndForLength() => Complete("length", flushDecoder: true);

    /// <summary>Ends the job without a reply (the client went away, or the service stops).</summary>
    internal void Abandon(Exception? error = null)
    {
        if (IsDone) return;
        IsDone = true;
        if (error is not null) _events.Writer.TryWrite(new Failed(error));
        _events.Writer.TryComplete();
    }

    // Emits generated text, holding back a tail that may still become a stop string; true when a stop string ended the job.
    private bool ReleaseText()
    {
        var stops = Request.Stop;
        if (stops.Count == 0)
        {
            Emit(_pendingText);
            _pendingText = "";
            return false;
        }
        var first = -1;
        foreach (var stop in stops)
        {
            var at = _pendingText.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        if (first >= 0)
        {
            // The tokens that only spell the stop string (and what follows it) are not part of the reply: nor are their logprobs.
            if (_pendingLogprobs is not null)
            {
                var kept = _pendingStarts.FindIndex(start => start >= first);
                if (kept >= 0) _pendingLogprobs.RemoveRange(kept, _pendingLogprobs.Count - kept);
            }
            Emit(_pendingText[..first], final: true);
            _pendingText = "";
            Complete("stop", flushDecoder: false);
            return true;
        }
        var keep = 0;
        foreach (var stop in stops)
        {
            for (var n = Math.Min(stop.Length - 1, _pendingText.Length); n > keep; n--)
            {
                if (_pendingText.AsSpan(_pendingText.Length - n).SequenceEqual(stop.AsSpan(0, n)))
                {
                    keep = n;
                    break;
                }
            }
        }
        Emit(_pendingText[..^keep]);
        _pendingText = _pendingText[^keep..];
        return false;
    }

    private void Complete(string reason, bool flushDecoder)
    {
        if (flushDecoder)
        {
            Emit(_pendingText + _decoder!.Flush(), final: true);
            _pendingText = "";
        }
        IsDone = true;
        _events.Writer.TryWrite(new Finished(reason, PromptIds.Count, CompletionTokens));
        _events.Writer.TryComplete();
    }

    // Logprob entries travel with the text they produced; those of held-back bytes wait for the next delta.
    private void Emit(string text, bool final = false)
    {
        var logprobs = _pendingLogprobs is { Count: > 0 } pending && (text.Length > 0 || final) ? pending.ToArray() : null;
        if (text.Length == 0 && logprobs is null) return;
        _pendingLogprobs?.Clear();
        _pendingStarts.Clear();
        _events.Writer.TryWrite(new TextDelta(text, logprobs));
    }

    private static TokenLogprobDto Logprob(HfTokenizer tokenizer, int tokenId, float logprob, TokenLogprob[]? top)
    {
        var bytes = tokenizer.TokenBytes(tokenId);
        var alternatives = top?.Select(t =>
        {
            var b = tokenizer.TokenBytes(t.TokenId);
            return new TopLogprobDto(System.Text.Encoding.UTF8.GetString(b), t.Logprob, b.Select(x => (int)x).ToArray());
        }).ToArray() ?? [];
        return new TokenLogprobDto(System.Text.Encoding.UTF8.GetString(bytes), logprob, bytes.Select(x => (int)x).ToArray(), alternatives);
    }
}
