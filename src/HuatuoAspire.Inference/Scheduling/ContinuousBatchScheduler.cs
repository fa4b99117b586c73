using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using HuatuoAspire.Inference.Contracts;
using HuatuoAspire.Inference.Serving;
using Microsoft.Extensions.Options;

namespace HuatuoAspire.Inference.Scheduling;

/// <summary>
/// The one owner of the served model. Requests wait in a bounded FIFO queue; before every step, waiting requests join
/// the running batch while it has room, so a new request starts while others are mid-generation (continuous batching
/// at the token step). A step decodes one token for every running sequence and prefills the prompts that joined, all
/// of them together in one forward pass, up to <see cref="InferenceOptions.PrefillTokenBudget"/> tokens (chunked
/// prefill: a long prompt goes over several steps, and running streams get a token every step meanwhile); a prompt's
/// first token comes from the step that finishes its prefill. Finished and cancelled sequences leave at once, and
/// admission and prefill are strictly first come, first served, so no request starves. A model switch stops
/// admission, lets the running batch finish, swaps, then admits again.
/// </summary>
public sealed class ContinuousBatchScheduler : IHostedService, IDisposable
{
    public const string TelemetryName = "HuatuoAspire.Inference";
    private static readonly ActivitySource Activity = new(TelemetryName);
    private static readonly Meter Meter = new(TelemetryName);
    private static readonly Counter<long> TokensGenerated = Meter.CreateCounter<long>("huatuo.inference.tokens_generated");
    private static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("huatuo.inference.batch_size");

    private readonly InferenceOptions _options;
    private readonly ILogger<ContinuousBatchScheduler> _logger;
    private readonly Func<CancellationToken, Task<ServedModel>> _initialModel;
    private readonly Channel<GenerationJob> _queue;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly List<GenerationJob> _running = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _swapLock = new();
    private (ServedModel Model, TaskCompletionSource<ServedModel> Done)? _pendingSwap;
    private volatile ServedModel? _current;
    private volatile string? _loadError;
    private Task? _loop;
    private Task? _initialLoad;
    private int _queued;
    private int _runningCount;
    private long _steps;
    private long _leftByClients;

    public ContinuousBatchScheduler(IOptions<InferenceOptions> options, ILogger<ContinuousBatchScheduler> logger,
        Func<CancellationToken, Task<ServedModel>> initialModel)
    {
        _options = options.Value;
        _logger = logger;
        _initialModel = initialModel;
        if (_options.MaxBatchSize < 1) throw new ArgumentException($"Inference:MaxBatchSize must be at least 1 (it is {_options.MaxBatchSize}).");
        if (_options.PrefillTokenBudget < 1) throw new ArgumentException($"Inference:PrefillTokenBudget must be at least 1 (it is {_options.PrefillTokenBudget}).");
        if (_options.MaxQueue < 0) throw new ArgumentException($"Inference:MaxQueue must be 0 or more (it is {_options.MaxQueue}).");
        // The queue's bound is the counter in Submit, which also forgets requests whose client left while waiting;
        // the channel keeps their entries until the admission loop skips them.
        _queue = Channel.CreateUnbounded<GenerationJob>(new UnboundedChannelOptions { SingleReader = true });
    }

    /// <summary>The model being served, or null while the first one loads (or failed to).</summary>
    public ServedModel? Current => _current;

    /// <summary>Why no model is served, when loading failed.</summary>
    public string? LoadError => _loadError;

    public int RunningCount => Volatile.Read(ref _runningCount);
    public int QueuedCount => Volatile.Read(ref _queued);

    /// <summary>Decode steps taken since start (each step advances every running sequence by one token).</summary>
    public long Steps => Interlocked.Read(ref _steps);

    /// <summary>Requests dropped because their client left (disconnected or cancelled), running or still queued.</summary>
    public long LeftByClients => Interlocked.Read(ref _leftByClients);

    /// <summary>Completes when the first model has loaded (or failed to load).</summary>
    public Task InitialLoad => _initialLoad ?? Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _initialLoad = Task.Run(LoadInitialModelAsync, CancellationToken.None);
        _loop = Task.Factory.StartNew(RunLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_loop is not null) await _loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_initialLoad is not null) await _initialLoad.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>
    /// Validates the request against the current model (404/400 now rather than after queueing) and queues it.
    /// Throws <see cref="InferenceRequestException"/> when it cannot run or the queue is full (429).
    /// </summary>
    public GenerationJob Submit(GenerationRequest request, CancellationToken cancellation)
    {
        var model = _current ?? throw InferenceRequestException.NoModel(_loadError is null
            ? "The model is still loading; retry shortly."
            : $"No model is loaded: {_loadError}");
        var job = new GenerationJob(request, cancellation);
        job.PrepareFor(model);
        var retryAfter = TimeSpan.FromSeconds(_options.RetryAfterSeconds);
        // The counter is the queue's true bound (MaxQueue may be 0); the channel never holds more than it allows.
        if (Interlocked.Increment(ref _queued) > _options.MaxQueue + FreeSlotsHint())
        {
            Interlocked.Decrement(ref _queued);
            throw InferenceRequestException.QueueFull(_options.MaxQueue, retryAfter);
        }
        job.OnLeftQueue = () => Interlocked.Decrement(ref _queued);
        job.WatchForCancellationWhileQueued();
        _queue.Writer.TryWrite(job);
        _wake.Release();
        return job;
    }

    /// <summary>
    /// Loads nothing itself: takes a loaded model, waits until the running batch has drained (no new request is
    /// admitted meanwhile; queued ones wait), swaps it in between two steps and disposes the old one.
    /// </summary>
    public Task<ServedModel> SwitchAsync(ServedModel next, CancellationToken ct)
    {
        var done = new TaskCompletionSource<ServedModel>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_swapLock)
        {
            if (_pendingSwap is not null)
            {
                throw new InferenceRequestException(StatusCodes.Status409Conflict, "Another model switch is in progress.",
                    "invalid_request_error", null, "switch_in_progress");
            }
            _pendingSwap = (next, done);
        }
        _wake.Release();
        return done.Task.WaitAsync(ct);
    }

    // Requests that can join the batch right now do not count against the queue's bound.
    private int FreeSlotsHint() => _current is { } m ? Math.Max(0, Math.Min(_options.MaxBatchSize, m.Decoder.MaxBatchSize) - RunningCount) : 0;

    private async Task LoadInitialModelAsync()
    {
        try
        {
            var model = await _initialModel(_stopping.Token);
            _current = model;
            _logger.LogInformation("Serving {Model} from {Source} (context {Context} tokens, batch {Batch}).",
                model.Id, model.Source, model.ContextLength, Math.Min(_options.MaxBatchSize, model.Decoder.MaxBatchSize));
            _wake.Release();
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _loadError = e.Message;
            _logger.LogError(e, "The model could not be loaded; the inference service answers 503 until one is switched in.");
        }
    }

    private void RunLoop()
    {
        var ct = _stopping.Token;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                TrySwap();
                LeaveCancelled();
                Admit();
                if (_running.Count == 0)
                {
                    _wake.Wait(ct);
                    continue;
                }
                Step();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _logger.LogCritical(e, "The inference scheduler stopped.");
        }
        finally
        {
            var stopped = new InferenceRequestException(StatusCodes.Status503ServiceUnavailable, "The inference service is stopping.",
                "server_error", null, "shutting_down");
            foreach (var job in _running) job.Abandon(stopped);
            _running.Clear();
            while (_queue.Reader.TryRead(out var waiting)) waiting.Abandon(stopped);
            _current?.Dispose();
        }
    }

    private void TrySwap()
    {
        (ServedModel Model, TaskCompletionSource<ServedModel> Done) swap;
        lock (_swapLock)
        {
            if (_pendingSwap is null || _running.Count > 0) return;
            swap = _pendingSwap.Value;
            _pendingSwap = null;
        }
        var old = _current;
        _current = swap.Model;
        _loadError = null;
        old?.Dispose();
        _logger.LogInformation("Switched the served model to {Model} from {Source}.", swap.Model.Id, swap.Model.Source);
        swap.Done.TrySetResult(swap.Model);
    }

    private void LeaveCancelled()
    {
        for (var i = _running.Count - 1; i >= 0; i--)
        {
            var job = _running[i];
            if (!job.Cancellation.IsCancellationRequested) continue;
            job.Model!.Decoder.Remove(job.Slot);
            job.Abandon();
            Interlocked.Increment(ref _leftByClients);
            _running.RemoveAt(i);
        }
        Volatile.Write(ref _runningCount, _running.Count);
    }

    private void Admit()
    {
        var model = _current;
        bool swapPending;
        lock (_swapLock) swapPending = _pendingSwap is not null;
        if (model is null || swapPending) return;
        var capacity = Math.Min(_options.MaxBatchSize, model.Decoder.MaxBatchSize);
        while (_running.Count < capacity && _queue.Reader.TryRead(out var job))
        {
            job.LeaveQueue();
            if (job.Cancellation.IsCancellationRequested)
            {
                job.Abandon();
                Interlocked.Increment(ref _leftByClients);
                continue;
            }
            try
            {
                // Queued before a switch: its prompt was tokenized for the old model.
                if (!ReferenceEquals(job.Model, model)) job.PrepareFor(model);
                job.Slot = model.Decoder.Join(job.PromptIds, job.Request.Sampling, job.Constraint);
            }
            catch (Exception e)
            {
                job.Abandon(e);
                continue;
            }
            job.Publish(new Admitted(model.Id, job.PromptIds.Count));
            _running.Add(job);
        }
        Volatile.Write(ref _runningCount, _running.Count);
    }

    private void Step()
    {
        var decoder = _running[0].Model!.Decoder;
        IReadOnlyList<SlotToken> tokens;
        try
        {
            using var activity = Activity.StartActivity("inference.step");
            activity?.SetTag("batch_size", _running.Count);
            tokens = decoder.Step(_options.PrefillTokenBudget);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "A decode step failed; the {Count} running requests end with an error.", _running.Count);
            foreach (var job in _running)
            {
                decoder.Remove(job.Slot);
                job.Abandon(e);
            }
            _running.Clear();
            Volatile.Write(ref _runningCount, 0);
            return;
        }
        Interlocked.Increment(ref _steps);
        BatchSize.Record(_running.Count);
        TokensGenerated.Add(tokens.Count);
        var bySlot = new Dictionary<int, GenerationJob>(_running.Count);
        foreach (var job in _running) bySlot[job.Slot] = job;
        foreach (var token in tokens)
        {
            if (bySlot.TryGetValue(token.Slot, out var job) && !job.IsDone) Deliver(decoder, job, token);
        }
        Volatile.Write(ref _runningCount, _running.Count);
    }

    private void Deliver(IBatchDecoder decoder, GenerationJob job, SlotToken token)
    {
        var finished = job.Accept(token);
        if (token.SlotReleased && !finished)
        {
            job.EndForLength();
            finished = true;
        }
        if (!finished) return;
        if (!token.SlotReleased) decoder.Remove(token.Slot);
        _running.Remove(job);
    }

    public void Dispose()
    {
        _stopping.Dispose();
        _wake.Dispose();
    }
}
