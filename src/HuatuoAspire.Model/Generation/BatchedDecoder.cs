using HuatuoAspire.Model.Modules;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.Generation;

public enum FinishReason { None, Stop, Length }

/// <summary>What one sequence produced in one call of <see cref="BatchedDecoder.Add"/> or <see cref="BatchedDecoder.Step"/>.</summary>
public readonly record struct DecodedToken(long SequenceId, SampledToken Token, FinishReason Finish)
{
    public bool Finished => Finish != FinishReason.None;
}

/// <summary>
/// Generation for many sequences at once over one preallocated KV cache, built for continuous batching: a sequence
/// can join (<see cref="Add"/>: its prompt is prefilled into a free row and its first token sampled) or leave
/// (<see cref="Remove"/>) between any two decode steps; <see cref="Step"/> advances every active sequence by one token
/// in a single forward pass. Each sequence keeps its own positions and sampling options; rows stay packed at the front
/// of the cache so a step only touches active rows. Finished sequences leave the batch by themselves.
/// Not thread-safe: one owner drives it.
/// </summary>
public sealed class BatchedDecoder : IDisposable
{
    private readonly CausalLanguageModel _model;
    private readonly KvCache _cache;
    private readonly List<Sequence> _rows = [];
    private readonly IReadOnlySet<int> _defaultStops;
    private long _nextId;

    public BatchedDecoder(CausalLanguageModel model, int maxBatch, int maxLength, IReadOnlySet<int>? defaultStopTokenIds = null)
    {
        if (maxBatch < 1) throw new ArgumentOutOfRangeException(nameof(maxBatch));
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength));
        _model = model;
        MaxLength = Math.Min(maxLength, model.Config.MaxPositionEmbeddings);
        _cache = new KvCache(model.Config, maxBatch, MaxLength, model.Placement.Device, model.Placement.DType);
        _defaultStops = defaultStopTokenIds ?? model.Config.EosTokenIds.ToHashSet();
        model.Rope(MaxLength);
    }

    public int Capacity => _cache.Rows;
    public int MaxLength { get; }
    public int Active => _rows.Count;
    public bool HasRoom => _rows.Count < _cache.Rows;
    public long CacheBytes => _cache.Bytes;

    /// <summary>Prefills <paramref name="promptIds"/> and samples its first new token.</summary>
    /// <exception cref="ArgumentException">The prompt is empty or does not leave room for one new token.</exception>
    public DecodedToken Add(IReadOnlyList<int> promptIds, SamplingOptions options)
    {
        if (!HasRoom) throw new InvalidOperationException($"All {Capacity} rows are in use.");
        if (promptIds.Count == 0) throw new ArgumentException("The prompt has no tokens.", nameof(promptIds));
        if (promptIds.Count >= MaxLength)
        {
            throw new ArgumentException($"The prompt has {promptIds.Count} tokens; the limit is {MaxLength - 1}.", nameof(promptIds));
        }
        var vocab = _model.Config.VocabSize;
        foreach (var id in promptIds)
        {
            if ((uint)id >= (uint)vocab) throw new ArgumentException($"Token id {id} is outside the vocabulary (0..{vocab - 1}).", nameof(promptIds));
        }
        var sequence = new Sequence(_nextId++, options, new TokenSampler(options), options.StopTokenIds ?? _defaultStops);
        var row = _rows.Count;

        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var device = _model.Placement.Device;
        var ids = tensor(promptIds.Select(i => (long)i).ToArray(), [1, promptIds.Count], device: device);
        var positions = arange(promptIds.Count, dtype: ScalarType.Int64, device: device).unsqueeze(0);
        var (cos, sin) = _model.Rope(MaxLength).For(positions, _model.Placement.DType);
        var hidden = _model.model.forward(ids, new LayerInputs(cos, sin, null, IsCausal: true, new PrefillCache(_cache, row)));
        var logits = _model.Logits(hidden.narrow(1, promptIds.Count - 1, 1)).to(ScalarType.Float32).cpu();

        _rows.Add(sequence);
        sequence.Length = promptIds.Count;
        var token = sequence.Accept(logits.data<float>().ToArray(), MaxLength);
        if (token.Finished) RemoveRow(row);
        return token;
    }

    /// <summary>One decode step for every active sequence; returns one token per sequence, in row order.</summary>
    public IReadOnlyList<DecodedToken> Step()
    {
        if (_rows.Count == 0) return [];
        var n = _rows.Count;
        var results = new DecodedToken[n];
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            var device = _model.Placement.Device;
            var tokens = new long[n];
            var positionValues = new long[n];
            var attend = 0;
            for (var r = 0; r < n; r++)
            {
                tokens[r] = _rows[r].LastToken;
                positionValues[r] = _rows[r].Length;
                attend = Math.Max(attend, _rows[r].Length + 1);
            }
            var ids = tensor(tokens, [n, 1], device: device);
            var positions = tensor(positionValues, [n], device: device);
            var (cos, sin) = _model.Rope(MaxLength).For(positions.view(n, 1), _model.Placement.DType);
            // Row r sees positions 0..pos_r (its own prefix and the token being written).
            var mask = arange(attend, dtype: ScalarType.Int64, device: device).view(1, 1, 1, attend) <= positions.view(n, 1, 1, 1);
            var hidden = _model.model.forward(ids, new LayerInputs(cos, sin, null, IsCausal: false,
                new DecodeCache(_cache, n, positions, attend, mask)));
            var logits = _model.Logits(hidden).to(ScalarType.Float32).cpu().view(n, -1);
            var all = logits.data<float>().ToArray();
            var vocab = (int)logits.shape[1];
            for (var r = 0; r < n; r++)
            {
                _rows[r].Length++;
                results[r] = _rows[r].Accept(all.AsSpan(r * vocab, vocab), MaxLength);
            }
        }
        for (var r = n - 1; r >= 0; r--)
        {
            if (results[r].Finished) RemoveRow(r);
        }
        return results;
    }

    /// <summary>Takes a sequence out of the batch (a cancelled request); unknown ids are ignored.</summary>
    public bool Remove(long sequenceId)
    {
        var row = _rows.FindIndex(s => s.Id == sequenceId);
        if (row < 0) return false;
        RemoveRow(row);
        return true;
    }

    public bool Contains(long sequenceId) => _rows.Exists(s => s.Id == sequenceId);

    private void RemoveRow(int row)
    {
        var last = _rows.Count - 1;
        if (row != last)
        {
            // Keep rows packed: the last sequence moves into the hole.
            _cache.MoveRow(last, row, _rows[last].Length);
            _rows[row] = _rows[last];
        }
        _rows.RemoveAt(last);
    }

    public void Dispose() => _cache.Dispose();

    private sealed class Sequence(long id, SamplingOptions options, TokenSampler sampler, IReadOnlySet<int> stops)
    {
        public long Id { get; } = id;
        /// <summary>Tokens in the cache (prompt + generated tokens already fed back).</summary>
        public int Length { get; set; }
        public int LastToken { get; private set; }
        public int Generated { get; private set; }

        public DecodedToken Accept(ReadOnlySpan<float> logits, int maxLength)
        {
            var token = sampler.Sample(logits);
            LastToken = token.TokenId;
            Generated++;
            var finish = stops.Contains(token.TokenId) ? FinishReason.Stop
                : Generated >= options.MaxNewTokens || Length + 1 >= maxLength ? FinishReason.Length
                : FinishReason.None;
            return new DecodedToken(Id, token, finish);
        }
    }
}
