using System.Collections.Concurrent;
using HuatuoAspire.Inference.Serving;
using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Inference.FunctionalTests;

/// <summary>
/// A deterministic stand-in language model for the scheduler and HTTP tests, over a real tokenizer: the next token's
/// logits are a hash of the sequence's whole history (prompt and generated ids) and a candidate id, so a sequence's
/// continuation depends on its own tokens only, exactly as a transformer's does. Any mixing of slots, a skipped
/// or doubled step, or a prompt fed to the wrong slot changes the text. It samples like the engine (temperature,
/// top-p, seed), can sleep per step to stand for compute, and logs which slots every step decoded.
/// </summary>
public sealed class HashChainDecoder(HfTokenizer tokenizer, int maxBatchSize, TimeSpan stepDelay, IReadOnlyList<int>? fixedReply = null)
    : IBatchDecoder
{
    private readonly int[] _candidates = "abcdefghijklmnopqrstuvwxyz .,"
        .Select(c => tokenizer.Encode(c.ToString(), addSpecialTokens: false).Single()).Distinct().ToArray();
    private readonly Dictionary<int, Sequence> _slots = [];
    private readonly ManualResetEventSlim _stepsAllowed = new(initialState: true);

    public int MaxBatchSize { get; } = maxBatchSize;

    /// <summary>The slots each step decoded, in order.</summary>
    public ConcurrentQueue<int[]> StepLog { get; } = new();

    public bool Disposed { get; private set; }

    /// <summary>When set, the next step throws (a device error, say) and the flag clears.</summary>
    public bool FailNextStep { get; set; }

    /// <summary>The prompts in the order they joined a slot (decoded, special tokens included): the admission order.</summary>
    public ConcurrentQueue<string> Joined { get; } = new();

    /// <summary>
    /// Makes every step wait until the returned handle is disposed: what is running stays running and what arrives
    /// stays queued (the scheduler admits only between steps) for as long as a test needs, however slow the machine.
    /// A step waits a minute at most, so a test that forgets to let go fails instead of hanging.
    /// </summary>
    public IDisposable HoldSteps()
    {
        _stepsAllowed.Reset();
        return new StepHold(_stepsAllowed);
    }

    public int Join(IReadOnlyList<int> promptIds, SamplingSettings sampling, ITokenConstraint? constraint = null)
    {
        ObjectDisposedException.ThrowIf(Disposed, this);
        if (constraint is not null) throw new NotSupportedException("The hash-chain stand-in does not do structured output; use the engine.");
        if (_slots.Count >= MaxBatchSize) throw new InvalidOperationException($"All {MaxBatchSize} slots are taken.");
        var slot = Enumerable.Range(0, MaxBatchSize).First(s => !_slots.ContainsKey(s));
        var hash = 1469598103934665603UL;
        foreach (var id in promptIds) hash = Mix(hash, id);
        _slots[slot] = new Sequence(hash, sampling, new Random(unchecked((int)(sampling.Seed ?? Random.Shared.NextInt64()))));
        Joined.Enqueue(tokenizer.Decode(promptIds));
        return slot;
    }

    // A joined prompt is "prefilled" whole by the next step, which also gives its first token; the budget is not modelled.
    public IReadOnlyList<SlotToken> Step(int prefillTokenBudget)
    {
        ObjectDisposedException.ThrowIf(Disposed, this);
        _stepsAllowed.Wait(TimeSpan.FromMinutes(1));
        if (stepDelay > TimeSpan.Zero) Thread.Sleep(stepDelay);
        if (FailNextStep)
        {
            FailNextStep = false;
            throw new InvalidOperationException("simulated decode failure");
        }
        var decoded = _slots.Where(s => s.Value.Started).Select(s => s.Key).Order().ToArray();
        if (decoded.Length > 0) StepLog.Enqueue(decoded);
        var tokens = new List<SlotToken>(_slots.Count);
        foreach (var (slot, seq) in _slots.Where(s => s.Value.Started)) tokens.Add(new SlotToken(slot, Next(seq)));
        foreach (var (slot, seq) in _slots.Where(s => !s.Value.Started))
        {
            seq.Started = true;
            tokens.Add(new SlotToken(slot, Next(seq)));
        }
        return tokens;
    }

    private int Next(Sequence seq)
    {
        var token = fixedReply is not null
            ? seq.Generated < fixedReply.Count ? fixedReply[seq.Generated] : tokenizer.EosTokenIds.First()
            : Sample(seq);
        seq.Hash = Mix(seq.Hash, token);
        seq.Generated++;
        return token;
    }

    public void Remove(int slot)
    {
        if (!_slots.Remove(slot)) throw new InvalidOperationException($"Slot {slot} is not in use.");
    }

    public int ActiveSlots => _slots.Count;

    public void Dispose() => Disposed = true;

    private int Sample(Sequence seq)
    {
        var logits = _candidates.Select(c => (Id: c, Logit: (Mix(seq.Hash, c) >> 11) * (4.0 / (1UL << 53)))).ToArray();
        if (seq.Sampling.Temperature <= 0) return logits.MaxBy(l => l.Logit).Id;
        var weights = logits.Select(l => (l.Id, P: Math.Exp(l.Logit / seq.Sampling.Temperature))).OrderByDescending(w => w.P).ToList();
        var total = weights.Sum(w => w.P);
        var kept = new List<(int Id, double P)>();
        var mass = 0.0;
        foreach (var w in weights)
        {
            kept.Add(w);
            mass += w.P / total;
            if (mass >= seq.Sampling.TopP) break;
        }
        var r = seq.Random.NextDouble() * kept.Sum(k => k.P);
        foreach (var (id, p) in kept)
        {
            r -= p;
            if (r <= 0) return id;
        }
        return kept[^1].Id;
    }

    private static ulong Mix(ulong hash, int value)
    {
        hash ^= (uint)value;
        hash *= 1099511628211UL;
        hash ^= hash >> 29;
        return hash * 0xbf58476d1ce4e5b9UL;
    }

    private sealed class StepHold(ManualResetEventSlim stepsAllowed) : IDisposable
    {
        public void Dispose() => stepsAllowed.Set();
    }

    private sealed class Sequence(ulong hash, SamplingSettings sampling, Random random)
    {
        public ulong Hash { get; set; } = hash;
        public SamplingSettings Sampling { get; } = sampling;
        public Random Random { get; } = random;
        public int Generated { get; set; }
        public bool Started { get; set; }
    }
}

/// <summary>
/// Loads "model folders" for the tests: any folder holding a real tokenizer.json/tokenizer_config.json, served by
/// a <see cref="HashChainDecoder"/>. A file <c>reply.txt</c> in the folder makes the model always answer that text.
/// </summary>
public sealed class HashChainModelLoader(int contextLength, TimeSpan stepDelay) : IServedModelLoader
{
    public List<HashChainDecoder> Decoders { get; } = [];

    public Task<ServedModel> LoadAsync(ModelLoadRequest request, CancellationToken ct)
    {
        var tokenizer = HfTokenizer.FromFolder(request.Path);
        var replyFile = Path.Combine(request.Path, "reply.txt");
        var reply = File.Exists(replyFile) ? tokenizer.Encode(File.ReadAllText(replyFile), addSpecialTokens: false) : null;
        var decoder = new HashChainDecoder(tokenizer, request.MaxBatchSize, stepDelay, reply);
        lock (Decoders) Decoders.Add(decoder);
        return Task.FromResult(new ServedModel(request.ModelId, "hash-chain test model: " + request.Path, request.Path, tokenizer, decoder,
            Math.Min(contextLength, request.ContextLength ?? int.MaxValue)));
    }

    public Task<string> EnsureDefaultModelAsync(string folder, CancellationToken ct) =>
        throw new InvalidOperationException("The tests always name a model folder.");
}
