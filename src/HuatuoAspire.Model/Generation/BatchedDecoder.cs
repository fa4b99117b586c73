using HuatuoAspire.Model.Modules;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.Generation;

public enum FinishReason { None, Stop, Length }

/// <summary>What one sequence produced in one call of <see cref="BatchedDecoder.Add"/> or <see cref="BatchedDecoder.Step"/>.</summary>
public readonly record struct DecodedToken(long SequenceId, SampledToken Token, FinishReason Finish)
{
    public bool Finished => Finish != FinishReason.None;

    /// <summary>
    /// The <see cref="SamplingOptions.TopLogprobs"/> most likely tokens at this position with their raw log-probabilities
    /// (log_softmax at T = 1), most likely first; null when none were asked for.
    /// </summary>
    public TokenLogprob[]? TopLogprobs { get; init; }
}

/// <summary>A candidate token and its raw log-probability.</summary>
public readonly record struct TokenLogprob(int TokenId, float Logprob);

/// <summary>
/// Generation for many sequences at once over one preallocated KV cache, built for continuous batching: a sequence
/// can join between any two decode steps and leave (<see cref="Remove"/>) at any time. It joins either with
/// <see cref="Add"/> (its prompt is prefilled at once into a free row and its first token sampled) or with
/// <see cref="Join"/> (it only takes a row; <see cref="Step(int)"/> then prefills waiting prompts in chunks, all of
/// one step's chunks together in one forward pass, under a per-step token budget, while the running sequences keep
/// decoding). <see cref="Step()"/> advances every decoding sequence by one token in a single forward pass. Each
/// sequence keeps its own positions and sampling options; rows stay packed at the front of the cache so a step only
/// touches active rows. Finished sequences leave the batch by themselves. Not thread-safe: one owner drives it.
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

    /// <summary>
    /// Whether decode steps and prefills may run as one <see cref="CpuForward"/> pass where it applies (default
    /// <see cref="CpuForward.Enabled"/>); false runs libtorch's path, to compare the two.
    /// </summary>
    public bool UseCpuForward { get; init; } = CpuForward.Enabled;

    /// <summary>Whether a decode step or prefill of this decoder ran as a <see cref="CpuForward"/> pass.</summary>
    public bool UsedCpuForward { get; private set; }

    public int Capacity => _cache.Rows;
    public int MaxLength { get; }
    public int Active => _rows.Count;
    public bool HasRoom => _rows.Count < _cache.Rows;
    public long CacheBytes => _cache.Bytes;

    /// <summary>Sequences that joined with <see cref="Join"/> and whose prompt is not fully prefilled yet.</summary>
    public int Prefilling => _rows.Count(r => !r.Decoding);

    /// <summary>Prompt tokens still to prefill over all joined sequences.</summary>
    public int PendingPromptTokens => _rows.Sum(r => r.Prompt.Length - r.Length);

    /// <summary>
    /// Prefills <paramref name="promptIds"/> and samples its first new token. With a <paramref name="constraint"/> every
    /// token of the sequence is sampled from the logits it leaves (structured output).
    /// </summary>
    /// <exception cref="ArgumentException">The prompt is empty or does not leave room for one new token.</exception>
    public DecodedToken Add(IReadOnlyList<int> promptIds, SamplingOptions options, ITokenConstraint? constraint = null)
    {
        var sequence = NewSequence(promptIds, options, constraint);
        var row = _rows.Count;
        if (CpuPass() is { } pass)
        {
            UsedCpuForward = true;
            var count = promptIds.Count;
            var promptTokens = new long[count];
            var promptPositions = new long[count];
            for (var i = 0; i < count; i++) (promptTokens[i], promptPositions[i]) = (promptIds[i], i);
            var cacheRows = new int[count];
            Array.Fill(cacheRows, row);
            var prefilled = pass.Run(promptTokens, cacheRows, promptPositions, [count - 1]);
            return Accepted(sequence, row, prefilled);
        }

        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var device = _model.Placement.Device;
        var ids = tensor(promptIds.Select(i => (long)i).ToArray(), [1, promptIds.Count], device: device);
        var positions = arange(promptIds.Count, dtype: ScalarType.Int64, device: device).unsqueeze(0);
        var (cos, sin) = _model.Rope(MaxLength).For(positions, _model.Placement.DType);
        var hidden = _model.model.forward(ids, new LayerInputs(cos, sin, null, IsCausal: true, new PrefillCache(_cache, row)));
        var logits = _model.Logits(hidden.narrow(1, promptIds.Count - 1, 1)).to(ScalarType.Float32).cpu();
        return Accepted(sequence, row, logits.data<float>().ToArray());
    }

    // The new row's first token, sampled from its prompt's last logits.
    private DecodedToken Accepted(Sequence sequence, int row, Span<float> logits)
    {
        _rows.Add(sequence);
        sequence.Length = sequence.Prompt.Length;
        var token = sequence.Accept(logits, MaxLength);
        if (token.Finished) RemoveRow(row);
        return token;
    }

    /// <summary>
    /// Takes a free row for <paramref name="promptIds"/> without running the model: the prompt is prefilled by the
    /// following <see cref="Step(int)"/> calls, and its first token comes out of the step that finishes it. A prefix
    /// of at least <see cref="MinimumReusedPrefix"/> tokens that another row already holds is copied, not recomputed.
    /// Returns the sequence's id. A <paramref name="constraint"/> masks the logits of each of its tokens, as in <see cref="Add"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The prompt is empty or does not leave room for one new token.</exception>
    public long Join(IReadOnlyList<int> promptIds, SamplingOptions options, ITokenConstraint? constraint = null)
    {
        var sequence = NewSequence(promptIds, options, constraint);
        sequence.Decoding = false;
        var row = _rows.Count;
        _rows.Add(sequence);
        ReuseSharedPrefix(sequence, row);
        return sequence.Id;
    }

    /// <summary>Prompt tokens that joining sequences did not have to prefill because another row already held them.</summary>
    public long ReusedPromptTokens { get; private set; }

    /// <summary>Shared prefixes shorter than this are prefilled anyway (the copy is not worth it).</summary>
    public const int MinimumReusedPrefix = 16;

    // Prompts often start alike (the chat template, a system prompt): when another row's cache already holds the first
    // tokens of this prompt, copy their keys/values instead of computing them again. At least one token is left to
    // prefill, since the first new token is sampled from the prompt's last position.
    private void ReuseSharedPrefix(Sequence sequence, int row)
    {
        var prompt = sequence.Prompt;
        var best = 0;
        var source = -1;
        for (var r = 0; r < row; r++)
        {
            var other = _rows[r];
            var limit = Math.Min(Math.Min(other.Length, other.Prompt.Length), prompt.Length - 1);
            var common = 0;
            while (common < limit && other.Prompt[common] == prompt[common]) common++;
            if (common > best) (best, source) = (common, r);
        }
        if (best < MinimumReusedPrefix) return;
        _cache.MoveRow(source, row, best); // copies the first `best` positions; the source row keeps its own

        sequence.Length = best;
        ReusedPromptTokens += best;
    }

    private Sequence NewSequence(IReadOnlyList<int> promptIds, SamplingOptions options, ITokenConstraint? constraint)
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
        return new Sequence(_nextId++, promptIds.ToArray(), options, new TokenSampler(options), options.StopTokenIds ?? _defaultStops, constraint);
    }

    /// <summary>One decode step for every decoding sequence; returns one token per sequence, in row order.</summary>
    public IReadOnlyList<DecodedToken> Step() => Step(0);

    /// <summary>
    /// One step of continuous batching: a decode step for every decoding sequence (one token each, in row order), then
    /// one forward pass over up to <paramref name="prefillTokenBudget"/> waiting prompt tokens (at least one chunk when
    /// any prompt waits and the budget is positive), oldest joined first; a prompt that does not fit is continued in
    /// the next step. Sequences whose prompt this step finished yield their first token after the decoded ones.
    /// </summary>
    public IReadOnlyList<DecodedToken> Step(int prefillTokenBudget)
    {
        if (prefillTokenBudget < 0) throw new ArgumentOutOfRangeException(nameof(prefillTokenBudget));
        var results = new List<DecodedToken>(_rows.Count);
        Decode(results);
        if (prefillTokenBudget > 0) Prefill(prefillTokenBudget, results);
        foreach (var r in results)
        {
            if (r.Finished) Remove(r.SequenceId);
        }
        return results;
    }

    private void Decode(List<DecodedToken> results)
    {
        var n = _rows.Count;
        var decoding = 0;
        foreach (var row in _rows) if (row.Decoding) decoding++;
        if (decoding == 0) return;
        var tokens = new long[n];
        var positionValues = new long[n];
        var attend = 0;
        for (var r = 0; r < n; r++)
        {
            // A row still prefilling rides along with a placeholder token written at its next prompt position, which its
            // next chunk overwrites before anything reads it; its output is ignored. Rows stay packed, nothing moves.
            tokens[r] = _rows[r].Decoding ? _rows[r].LastToken : 0;
            positionValues[r] = _rows[r].Length;
            attend = Math.Max(attend, _rows[r].Length + 1);
        }
        if (CpuPass() is { } pass)
        {
            UsedCpuForward = true;
            Accept(pass.Run(tokens, positionValues, n), results);
            return;
        }
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var device = _model.Placement.Device;
        var ids = tensor(tokens, [n, 1], device: device);
        var positions = tensor(positionValues, [n], device: device);
        var (cos, sin) = _model.Rope(MaxLength).For(positions.view(n, 1), _model.Placement.DType);
        // Row r sees positions 0..pos_r (its own prefix and the token being written).
        var mask = arange(attend, dtype: ScalarType.Int64, device: device).view(1, 1, 1, attend) <= positions.view(n, 1, 1, 1);
        var hidden = _model.model.forward(ids, new LayerInputs(cos, sin, null, IsCausal: false,
            new DecodeCache(_cache, n, positions, attend, mask)));
        var logits = _model.Logits(hidden).to(ScalarType.Float32).cpu().view(n, -1);
        Accept(logits.data<float>().ToArray(), results);
    }

    // Row r's logits are all[r * vocab, (r + 1) * vocab); rows still prefilling are skipped.
    private void Accept(Span<float> all, List<DecodedToken> results)
    {
        var vocab = _model.Config.VocabSize;
        for (var r = 0; r < _rows.Count; r++)
        {
            if (!_rows[r].Decoding) continue;
            _rows[r].Length++;
            results.Add(_rows[r].Accept(all.Slice(r * vocab, vocab), MaxLength));
        }
    }

    private CpuForward? _cpuPass;
    private bool _cpuPassUnavailable;

    // The allocation-free CPU pass when it applies, made once; again when the model's rotary tables were regrown (the
    // pass reads them in place). While a LoRA adapter is attached libtorch's path runs.
    private CpuForward? CpuPass()
    {
        if (!UseCpuForward || HasLora()) return null;
        if (_cpuPass is not null && _cpuPass.Rope == _model.Rope(MaxLength)) return _cpuPass;
        if (_cpuPassUnavailable) return null;
        _cpuPass = CpuForward.TryCreate(_model, _cache, _model.Rope(MaxLength));
        _cpuPassUnavailable = _cpuPass is null;
        return _cpuPass;
    }

    private bool HasLora()
    {
        if (_model.lm_head?.Lora is not null) return true;
        foreach (var layer in _model.model.layers)
        {
            var (a, m) = (layer.self_attn, layer.mlp);
            if (a.q_proj.Lora is not null || a.k_proj.Lora is not null || a.v_proj.Lora is not null || a.o_proj.Lora is not null
                || m.gate_proj.Lora is not null || m.up_proj.Lora is not null || m.down_proj.Lora is not null) return true;
        }
        return false;
    }

    private readonly record struct Chunk(int Row, int Start, int Length);

    // The chunks as one CpuForward pass: each chunk is a run of its row's positions; logits where a prompt ends.
    private void PrefillOnCpu(CpuForward pass, List<Chunk> chunks, List<DecodedToken> results)
    {
        UsedCpuForward = true;
        var total = chunks.Sum(c => c.Length);
        var ids = new long[total];
        var positions = new long[total];
        var cacheRows = new int[total];
        var ends = new List<int>();
        var finishing = new List<Sequence>();
        var at = 0;
        foreach (var c in chunks)
        {
            var sequence = _rows[c.Row];
            for (var i = 0; i < c.Length; i++, at++) (ids[at], positions[at], cacheRows[at]) = (sequence.Prompt[c.Start + i], c.Start + i, c.Row);
            sequence.Length += c.Length;
            if (sequence.Length < sequence.Prompt.Length) continue;
            ends.Add(at - 1);
            finishing.Add(sequence);
        }
        var logits = pass.Run(ids, cacheRows, positions, ends.ToArray());
        var vocab = _model.Config.VocabSize;
        for (var i = 0; i < finishing.Count; i++)
        {
            finishing[i].Decoding = true;
            results.Add(finishing[i].Accept(logits.Slice(i * vocab, vocab), MaxLength));
        }
    }

    // Prefills the next chunks of waiting prompts in one forward pass over their tokens packed into one sequence: the
    // projections and the MLP run once over all of them; attention runs per chunk, over that row's cached prefix
    // (earlier chunks) and the chunk itself, causally.
    private void Prefill(int budget, List<DecodedToken> results)
    {
        var chunks = new List<Chunk>();
        foreach (var (row, index) in _rows.Select((s, i) => (s, i)).Where(x => !x.s.Decoding).OrderBy(x => x.s.Id))
        {
            if (budget <= 0) break;
            var length = Math.Min(row.Prompt.Length - row.Length, budget);
            chunks.Add(new Chunk(index, row.Length, length));
            budget -= length;
        }
        if (chunks.Count == 0) return;
        if (CpuPass() is { } pass)
        {
            PrefillOnCpu(pass, chunks, results);
            return;
        }

        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var device = _model.Placement.Device;
        var dtype = _model.Placement.DType;
        var total = chunks.Sum(c => c.Length);
        var idValues = new long[total];
        var positionValues = new long[total];
        var at = 0;
        foreach (var c in chunks)
        {
            var prompt = _rows[c.Row].Prompt;
            for (var i = 0; i < c.Length; i++)
            {
                idValues[at] = prompt[c.Start + i];
                positionValues[at++] = c.Start + i;
            }
        }
        var (cos, sin) = _model.Rope(MaxLength).For(tensor(positionValues, [1, total], device: device), dtype);
        var trunk = _model.model;
        var h = trunk.embed_tokens.forward(tensor(idValues, [1, total], device: device));
        var config = _model.Config;
        for (var l = 0; l < trunk.layers.Count; l++)
        {
            using var layerScope = NewDisposeScope();
            var layer = trunk.layers[l];
            var attention = ChunkAttention(layer.self_attn, layer.input_layernorm.forward(h), cos, sin, chunks, l, config);
            var mid = h + attention;
            h = (mid + layer.mlp.forward(layer.post_attention_layernorm.forward(mid))).MoveToOuterDisposeScope();
        }

        // Logits only where a prompt ends.
        var ends = new List<long>();
        var finishing = new List<Sequence>();
        at = 0;
        foreach (var c in chunks)
        {
            at += c.Length;
            var sequence = _rows[c.Row];
            sequence.Length += c.Length;
            if (sequence.Length < sequence.Prompt.Length) continue;
            ends.Add(at - 1);
            finishing.Add(sequence);
        }
        if (ends.Count == 0) return;
        var last = trunk.norm.forward(h.index_select(1, tensor(ends.ToArray(), device: device)));
        var logits = _model.Logits(last).to(ScalarType.Float32).cpu().view(ends.Count, -1);
        var all = logits.data<float>().ToArray();
        var vocab = (int)logits.shape[1];
        for (var i = 0; i < finishing.Count; i++)
        {
            finishing[i].Decoding = true;
            results.Add(finishing[i].Accept(all.AsSpan(i * vocab, vocab), MaxLength));
        }
    }

    // Self-attention of packed prompt chunks: writes each chunk's keys/values into its row of the cache, then lets the
    // chunk's queries attend to positions [0, start + i] of that row. Query heads sharing a key/value head are folded
    // into the query length, so cached keys are never repeated per head.
    private Tensor ChunkAttention(Attention attention, Tensor x, Tensor cos, Tensor sin, List<Chunk> chunks, int layer, ModelConfig config)
    {
        using var scope = NewDisposeScope();
        var t = x.shape[1];
        var (heads, kvHeads, headDim) = (config.NumAttentionHeads, config.KeyValueHeads, config.HeadDim);
        var group = heads / kvHeads;
        var q = RotaryEmbedding.Apply(attention.q_proj.forward(x).view(1, t, heads, headDim).transpose(1, 2), cos, sin);
        var k = RotaryEmbedding.Apply(attention.k_proj.forward(x).view(1, t, kvHeads, headDim).transpose(1, 2), cos, sin);
        var v = attention.v_proj.forward(x).view(1, t, kvHeads, headDim).transpose(1, 2);
        var device = x.device;
        var outputs = new List<Tensor>(chunks.Count);
        var offset = 0;
        foreach (var c in chunks)
        {
            var keys = _cache.Keys[layer][c.Row];
            var values = _cache.Values[layer][c.Row];
            keys.narrow(1, c.Start, c.Length).copy_(k[0].narrow(1, offset, c.Length));
            values.narrow(1, c.Start, c.Length).copy_(v[0].narrow(1, offset, c.Length));
            var seen = c.Start + c.Length;
            var attendK = keys.narrow(1, 0, seen).unsqueeze(0);
            var attendV = values.narrow(1, 0, seen).unsqueeze(0);
            // [1, heads, L, d] -> [1, kv, group * L, d]: query heads 0..group-1 belong to kv head 0, as Hugging Face's repeat_kv.
            var grouped = q.narrow(2, offset, c.Length).reshape(1, kvHeads, group * c.Length, headDim);
            var queryPositions = arange(c.Start, seen, dtype: ScalarType.Int64, device: device).repeat(group).view(group * c.Length, 1);
            var mask = arange(seen, dtype: ScalarType.Int64, device: device).view(1, seen) <= queryPositions;
            var output = nn.functional.scaled_dot_product_attention(grouped, attendK, attendV, mask.view(1, 1, group * c.Length, seen));
            outputs.Add(output.view(1, heads, c.Length, headDim));
            offset += c.Length;
        }
        var merged = cat(outputs, 2).transpose(1, 2).reshape(1, t, heads * headDim);
        return attention.o_proj.forward(merged).MoveToOuterDisposeScope();
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

    private sealed class Sequence(long id, int[] prompt, SamplingOptions options, TokenSampler sampler, IReadOnlySet<int> stops,
        ITokenConstraint? constraint)
    {
        public long Id { get; } = id;
        public int[] Prompt { get; } = prompt;
        /// <summary>False while the prompt is being prefilled in chunks (<see cref="Join"/>).</summary>
        public bool Decoding { get; set; } = true;
        /// <summary>Tokens in the cache (prompt + generated tokens already fed back).</summary>
        public int Length { get; set; }
        public int LastToken { get; private set; }
        public int Generated { get; private set; }

        // The logits are this step's own copy: a constraint masks them in place, so sampling, top_p and the reported
        // log-probabilities all see the distribution the token is really drawn from (as vLLM reports them).
        public DecodedToken Accept(Span<float> logits, int maxLength)
        {
            constraint?.Mask(logits);
            var token = sampler.Sample(logits);
            constraint?.Accept(token.TokenId);
            LastToken = token.TokenId;
            Generated++;
            var finish = stops.Contains(token.TokenId) || constraint?.Ended == true ? FinishReason.Stop
                : Generated >= options.MaxNewTokens || Length + 1 >= maxLength ? FinishReason.Length
                : FinishReason.None;
            return new DecodedToken(Id, token, finish) { TopLogprobs = options.TopLogprobs > 0 ? Top(logits, token, options.TopLogprobs) : null };
        }

        // The n largest logits as raw log-probabilities (log_softmax at T = 1); ties go to the lower id; masked tokens never.
        private static TokenLogprob[] Top(ReadOnlySpan<float> logits, SampledToken sampled, int n)
        {
            var logZ = (double)logits[sampled.TokenId] - sampled.RawLogProb;
            n = Math.Min(n, logits.Length);
            var best = new List<TokenLogprob>(n + 1);
            for (var i = 0; i < logits.Length; i++)
            {
                var value = logits[i];
                if (float.IsNegativeInfinity(value) || (best.Count == n && value <= best[^1].Logprob)) continue;
                var at = best.Count;
                while (at > 0 && best[at - 1].Logprob < value) at--;
                best.Insert(at, new TokenLogprob(i, value));
                if (best.Count > n) best.RemoveAt(n);
            }
            return best.Select(b => new TokenLogprob(b.TokenId, (float)(b.Logprob - logZ))).ToArray();
        }
    }
}
