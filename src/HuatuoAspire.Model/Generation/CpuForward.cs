using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using HuatuoAspire.Model.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.Generation;

/// <summary>
/// A forward pass of the model over a batch of tokens on the CPU in fp32, as one managed loop over the model's own
/// weight and cache memory: embedding rows, RMSNorm, the products (<see cref="MatVec"/> for up to
/// <see cref="MatVec.MaxRows"/> tokens, <see cref="MatMul"/> for more; fp32, bf16 or int8 weights), rotary embedding,
/// attention over each token's cache row, SwiGLU and the head, into buffers made once. Each token names its cache row
/// and position, so one shape of call serves a decode step (one token per row), a prompt's prefill (a run of positions
/// in one row) and chunks of several prompts packed together; every token's key and value are written before any
/// token attends, and a token sees its row's positions up to its own. The libtorch path issues ~40 tensor operations
/// per layer, each ~10 µs of call, allocation and dispose-scope work (measured: base preset, int8, 1 thread, ~9 ms of
/// a 13.7 ms decode step), and its OpenMP threads compete with the kernels' workers; here a pass allocates nothing.
/// It computes what <see cref="DecoderModel.forward"/> computes, in the same operation order, so results agree with it
/// to float rounding (tests compare both). Not for training (no autograd), LoRA or CUDA.
/// </summary>
public sealed unsafe class CpuForward
{
    /// <summary>
    /// Whether decode and prefill may take this path (default true; <c>HUATUO_CPU_FORWARD=0</c> measures libtorch's path
    /// side by side).
    /// </summary>
    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("HUATUO_CPU_FORWARD") != "0";

    /// <summary>The most tokens one pass takes; a longer prefill runs as several passes, in order (the cache links them).</summary>
    public const int MaxTokensPerPass = 256;

    private readonly CausalLanguageModel _model;
    private readonly ModelConfig _config;
    private readonly Layer[] _layers;
    private readonly Matrix _head;
    private readonly Matrix _embedding;
    private readonly float* _finalNorm;
    private readonly float* _cos;
    private readonly float* _sin;
    private readonly nint[] _keys;
    private readonly nint[] _values;
    private readonly int _cacheRows;
    private readonly int _cacheLength;
    private readonly int _ropePositions;
    private readonly int[] _rowIndexes;
    private Buffers? _buffers;

    private CpuForward(CausalLanguageModel model, KvCache cache, RotaryEmbedding rope)
    {
        _model = model;
        _config = model.Config;
        var trunk = model.model;
        _layers = trunk.layers.Select(l => new Layer(
            (float*)Projection.Data(l.input_layernorm.weight), (float*)Projection.Data(l.post_attention_layernorm.weight),
            Matrix.Of(l.self_attn.q_proj), Matrix.Of(l.self_attn.k_proj), Matrix.Of(l.self_attn.v_proj), Matrix.Of(l.self_attn.o_proj),
            Matrix.Of(l.mlp.gate_proj), Matrix.Of(l.mlp.up_proj), Matrix.Of(l.mlp.down_proj))).ToArray();
        _embedding = Matrix.Of(trunk.embed_tokens.weight, null, trunk.embed_tokens.weight_scales);
        _head = model.lm_head is { } head ? Matrix.Of(head) : _embedding;
        _finalNorm = (float*)Projection.Data(trunk.norm.weight);
        _cos = (float*)Projection.Data(rope.CosTable);
        _sin = (float*)Projection.Data(rope.SinTable);
        _ropePositions = rope.MaxPositions;
        _keys = cache.Keys.Select(k => (nint)Projection.Data(k)).ToArray();
        _values = cache.Values.Select(v => (nint)Projection.Data(v)).ToArray();
        _cacheRows = cache.Rows;
        _cacheLength = cache.MaxLength;
        _rowIndexes = Enumerable.Range(0, cache.Rows).ToArray();
        Rope = rope;
    }

    /// <summary>
    /// The pass for <paramref name="model"/> over <paramref name="cache"/>, or null where this path does not apply (not
    /// CPU fp32, no vector kernel, a LoRA adapter attached, a non-contiguous or unsupported weight).
    /// </summary>
    public static CpuForward? TryCreate(CausalLanguageModel model, KvCache cache, RotaryEmbedding rope)
    {
        if (!Applies(model)) return null;
        if (cache.Keys.Any(k => k.dtype != ScalarType.Float32 || !k.is_contiguous()) || cache.Values.Any(v => v.dtype != ScalarType.Float32 || !v.is_contiguous()))
            return null;
        if (!rope.CosTable.is_contiguous() || rope.CosTable.device_type != DeviceType.CPU) return null;
        return new CpuForward(model, cache, rope);
    }

    private static bool Applies(CausalLanguageModel model)
    {
        if (!Projection.KernelEnabled || !MatVec.IsAccelerated || !MatMul.IsAccelerated || model.Placement.Device.type != DeviceType.CPU
            || model.Placement.DType != ScalarType.Float32) return false;
        var trunk = model.model;
        foreach (var layer in trunk.layers)
        {
            foreach (var p in Projections(layer))
                if (!Matrix.Supports(p.weight, p.weight_scales) || p.Lora is not null || (p.bias is { } b && (b.dtype != ScalarType.Float32 || !b.is_contiguous()))) return false;
            if (!layer.input_layernorm.weight.is_contiguous() || !layer.post_attention_layernorm.weight.is_contiguous()) return false;
        }
        if (model.lm_head is { } head && (!Matrix.Supports(head.weight, head.weight_scales) || head.Lora is not null || head.bias is not null)) return false;
        return Matrix.Supports(trunk.embed_tokens.weight, trunk.embed_tokens.weight_scales) && trunk.norm.weight.is_contiguous();
    }

    private static IEnumerable<Projection> Projections(DecoderLayer layer) =>
    [
        layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj, layer.self_attn.o_proj,
        layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj,
    ];

    /// <summary>
    /// One decode step: row r feeds <paramref name="tokens"/>[r] at position <paramref name="positions"/>[r], writes its
    /// key/value there and attends to positions 0..positions[r]. Returns the logits, <paramref name="rows"/> × vocab,
    /// in a buffer this object reuses on the next call.
    /// </summary>
    public Span<float> Run(ReadOnlySpan<long> tokens, ReadOnlySpan<long> positions, int rows)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, _cacheRows);
        // Token r in cache row r, and the logits of every one.
        var each = _rowIndexes.AsSpan(0, rows);
        return Run(tokens[..rows], each, positions[..rows], each);
    }

    /// <summary>
    /// A pass over <paramref name="tokens"/>: token i goes to cache row <paramref name="cacheRows"/>[i] at position
    /// <paramref name="positions"/>[i] and attends to that row's positions 0..positions[i] (a run of one row's tokens is
    /// causal within itself). Returns the logits of the tokens <paramref name="logitsOf"/> names (indexes into
    /// <paramref name="tokens"/>, ascending), one vocab-sized row each in that order, in a buffer this object reuses.
    /// </summary>
    public Span<float> Run(ReadOnlySpan<long> tokens, ReadOnlySpan<int> cacheRows, ReadOnlySpan<long> positions, ReadOnlySpan<int> logitsOf)
    {
        if (cacheRows.Length != tokens.Length || positions.Length != tokens.Length)
            throw new ArgumentException($"{tokens.Length} tokens need as many cache rows and positions ({cacheRows.Length}, {positions.Length}).");
        for (var i = 0; i < tokens.Length; i++)
        {
            if (cacheRows[i] < 0 || cacheRows[i] >= _cacheRows)
                throw new ArgumentOutOfRangeException(nameof(cacheRows), $"cache row {cacheRows[i]} is outside the cache ({_cacheRows} rows).");
            if (positions[i] < 0 || positions[i] >= Math.Min(_cacheLength, _ropePositions))
                throw new ArgumentOutOfRangeException(nameof(positions), $"position {positions[i]} is outside the cache.");
            if (tokens[i] < 0 || tokens[i] >= _config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token {tokens[i]} is outside the vocabulary ({_config.VocabSize}).");
        }
        for (var i = 1; i < logitsOf.Length; i++)
            if (logitsOf[i] <= logitsOf[i - 1]) throw new ArgumentException("The tokens to give logits of must be named in ascending order.", nameof(logitsOf));
        if (logitsOf.Length > 0 && (logitsOf[0] < 0 || logitsOf[^1] >= tokens.Length))
            throw new ArgumentOutOfRangeException(nameof(logitsOf), "A token to give logits of is not in the pass.");

        var pass = Math.Min(tokens.Length, MaxTokensPerPass);
        var b = Prepare(pass, logitsOf.Length);
        var next = 0;
        for (var start = 0; start < tokens.Length; start += pass)
        {
            var count = Math.Min(pass, tokens.Length - start);
            Layers(tokens.Slice(start, count), cacheRows.Slice(start, count), positions.Slice(start, count), b);
            // The final norm of the tokens whose logits are asked for, gathered in order.
            fixed (float* h = b.Hidden, selected = b.Selected)
            {
                for (; next < logitsOf.Length && logitsOf[next] < start + count; next++)
                    RmsNorm(h + (long)(logitsOf[next] - start) * _config.HiddenSize, _finalNorm, selected + (long)next * _config.HiddenSize, 1,
                        _config.HiddenSize, (float)_config.RmsNormEps);
            }
        }
        if (logitsOf.Length == 0) return [];
        fixed (float* selected = b.Selected, logits = b.Logits)
            _head.Multiply(selected, logits, logitsOf.Length, Threads);
        return b.Logits.AsSpan(0, logitsOf.Length * _config.VocabSize);
    }

    private static int Threads => Projection.KernelThreads ?? get_num_threads();

    /// <summary>
    /// The buffers for passes of up to <paramref name="tokens"/> tokens and <paramref name="logits"/> rows of logits
    /// (made, or remade larger, on demand: a decoder's first prompt sizes them once).
    /// </summary>
    private Buffers Prepare(int tokens, int logits)
    {
        if (_buffers is null || _buffers.Tokens < tokens) _buffers = new Buffers(_config, Math.Max(tokens, Math.Min(_cacheRows, MaxTokensPerPass)), _buffers);
        _buffers.HoldLogits(Math.Max(logits, _cacheRows), _config);
        return _buffers;
    }

    /// <summary>Embedding and every layer for one pass of <paramref name="tokens"/>.Length tokens; leaves the last hidden states in <see cref="Buffers.Hidden"/>.</summary>
    private void Layers(ReadOnlySpan<long> tokens, ReadOnlySpan<int> cacheRows, ReadOnlySpan<long> positions, Buffers b)
    {
        var c = _config;
        var (hidden, heads, kvHeads, headDim) = (c.HiddenSize, c.NumAttentionHeads, c.KeyValueHeads, c.HeadDim);
        var threads = Threads;
        var eps = (float)c.RmsNormEps;
        var n = tokens.Length;
        fixed (float* h = b.Hidden, x = b.Normed, q = b.Query, k = b.Key, v = b.Value, attended = b.Attended, output = b.Output,
               gate = b.Gate, up = b.Up)
        {
            for (var i = 0; i < n; i++) _embedding.Row(tokens[i], h + (long)i * hidden, hidden);
            var attention = new AttentionPass(this, b, cacheRows, positions);
            for (var l = 0; l < _layers.Length; l++)
            {
                var layer = _layers[l];
                float* keys = (float*)_keys[l], values = (float*)_values[l];
                RmsNorm(h, layer.InputNorm, x, n, hidden, eps);
                layer.Q.Multiply(x, q, n, threads);
                layer.K.Multiply(x, k, n, threads);
                layer.V.Multiply(x, v, n, threads);
                for (var i = 0; i < n; i++)
                {
                    var p = (int)positions[i];
                    float* cos = _cos + (long)p * headDim, sin = _sin + (long)p * headDim;
                    for (var head = 0; head < heads; head++) Rotate(q + ((long)i * heads + head) * headDim, cos, sin, headDim);
                    for (var head = 0; head < kvHeads; head++)
                    {
                        var key = k + ((long)i * kvHeads + head) * headDim;
                        Rotate(key, cos, sin, headDim);
                        var at = (((long)cacheRows[i] * kvHeads + head) * _cacheLength + p) * headDim;
                        Unsafe.CopyBlock(keys + at, key, (uint)(headDim * sizeof(float)));
                        Unsafe.CopyBlock(values + at, v + ((long)i * kvHeads + head) * headDim, (uint)(headDim * sizeof(float)));
                    }
                }
                attention.Run(q, keys, values, attended, threads);
                layer.O.Multiply(attended, output, n, threads);
                Add(h, output, (long)n * hidden);
                RmsNorm(h, layer.PostAttentionNorm, x, n, hidden, eps);
                layer.Gate.Multiply(x, gate, n, threads);
                layer.Up.Multiply(x, up, n, threads);
                SiluTimes(gate, up, (long)n * c.IntermediateSize);
                layer.Down.Multiply(gate, output, n, threads);
                Add(h, output, (long)n * hidden);
            }
        }
    }

    /// <summary>weight · (x / √(mean(x²) + ε)) per row, as <see cref="Modules.RmsNorm"/>.</summary>
    private static void RmsNorm(float* x, float* weight, float* target, int rows, int n, float eps)
    {
        for (var r = 0; r < rows; r++)
        {
            float* source = x + (long)r * n, result = target + (long)r * n;
            var squares = Dot(source, source, n);
            var inverse = 1f / MathF.Sqrt(squares / n + eps);
            var scale = Vector256.Create(inverse);
            var i = 0;
            for (; i + 8 <= n; i += 8) (Vector256.Load(weight + i) * (Vector256.Load(source + i) * scale)).Store(result + i);
            for (; i < n; i++) result[i] = weight[i] * (source[i] * inverse);
        }
    }

    /// <summary>x·cos + rotate_half(x)·sin in place ("rotate half": pairs i and i + d/2).</summary>
    private static void Rotate(float* x, float* cos, float* sin, int headDim)
    {
        var half = headDim / 2;
        var i = 0;
        for (; i + 8 <= half; i += 8)
        {
            var a = Vector256.Load(x + i);
            var b = Vector256.Load(x + i + half);
            (a * Vector256.Load(cos + i) + -b * Vector256.Load(sin + i)).Store(x + i);
            (b * Vector256.Load(cos + i + half) + a * Vector256.Load(sin + i + half)).Store(x + i + half);
        }
        for (; i < half; i++)
        {
            float a = x[i], b = x[i + half];
            x[i] = a * cos[i] + -b * sin[i];
            x[i + half] = b * cos[i + half] + a * sin[i + half];
        }
    }

    /// <summary>gate = silu(gate) · up, silu(g) = g / (1 + e^−g).</summary>
    private static void SiluTimes(float* gate, float* up, long n)
    {
        long i = 0;
        var one = Vector256.Create(1f);
        for (; i + 8 <= n; i += 8)
        {
            var g = Vector256.Load(gate + i);
            (g / (one + Vector256.Exp(-g)) * Vector256.Load(up + i)).Store(gate + i);
        }
        for (; i < n; i++)
        {
            var g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    private static void Add(float* target, float* source, long n)
    {
        long i = 0;
        for (; i + 8 <= n; i += 8) (Vector256.Load(target + i) + Vector256.Load(source + i)).Store(target + i);
        for (; i < n; i++) target[i] += source[i];
    }

    private static float Dot(float* a, float* b, int n)
    {
        var sum = Vector256<float>.Zero;
        var i = 0;
        for (; i + 8 <= n; i += 8) sum = MatVec.MulAdd(Vector256.Load(a + i), Vector256.Load(b + i), sum);
        var s = Vector256.Sum(sum);
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>
    /// Attention for one pass: its tokens grouped into runs (consecutive tokens of one cache row at consecutive
    /// positions: a decode step's rows are runs of one, a prompt's chunk is one run), and each run's queries, token-major
    /// with the query heads that share a key/value head side by side, cut into blocks of one tile's rows. A unit of work
    /// is one block against one key/value head: its query·key scores come out of <see cref="MatMul.TileSums"/> a tile of
    /// keys at a time (every key loaded once for the whole block), then a softmax per query over its own positions and
    /// the weighted sum of values. Units are dealt round-robin to the workers (later blocks of a causal run are longer).
    /// </summary>
    private readonly struct AttentionPass
    {
        private readonly CpuForward _owner;
        private readonly Buffers _buffers;
        private readonly int _units;
        private readonly long _work;
        // The tile shape the units were cut for (read once: tests switch the tiles while other passes run).
        private readonly bool _avx512;

        public AttentionPass(CpuForward owner, Buffers b, ReadOnlySpan<int> cacheRows, ReadOnlySpan<long> positions)
        {
            _owner = owner;
            _buffers = b;
            var c = owner._config;
            var group = c.NumAttentionHeads / c.KeyValueHeads;
            _avx512 = MatMul.UseAvx512;
            var (rows, _) = MatMul.TileShape(_avx512);
            var n = cacheRows.Length;
            var runs = 0;
            var units = 0;
            long work = 0;
            for (var i = 0; i < n; i++)
            {
                b.Rows[i] = cacheRows[i];
                b.Positions[i] = (int)positions[i];
                if (i > 0 && cacheRows[i] == cacheRows[i - 1] && positions[i] == positions[i - 1] + 1)
                {
                    b.RunLengths[runs - 1]++;
                    continue;
                }
                b.RunStarts[runs] = i;
                b.RunLengths[runs] = 1;
                runs++;
            }
            for (var r = 0; r < runs; r++)
            {
                b.RunUnits[r] = units;
                var blocks = (b.RunLengths[r] * group + rows - 1) / rows;
                units += blocks * c.KeyValueHeads;
                work += (long)blocks * c.KeyValueHeads * rows * (b.Positions[b.RunStarts[r] + b.RunLengths[r] - 1] + 1) * c.HeadDim;
            }
            b.RunUnits[runs] = units;
            (_units, _work) = (units, work);
        }

        public void Run(float* q, float* keys, float* values, float* attended, int threads)
        {
            var avx512 = _avx512;
            // Below ~256k multiply-adds (a decode step at a short context) waking a worker costs more than it saves.
            var parts = Math.Max(1, Math.Min(threads, Math.Min(_units, (int)Math.Min(int.MaxValue, _work / 262144))));
            var (rows, _) = MatMul.TileShape(avx512);
            var scores = _buffers.HoldScores(parts * rows * _owner._cacheLength);
            fixed (int* runStarts = _buffers.RunStarts, runLengths = _buffers.RunLengths, runUnits = _buffers.RunUnits, cacheRows = _buffers.Rows, positions = _buffers.Positions)
            fixed (float* scratch = scores)
            {
                var job = new AttentionJob(_owner._config, q, keys, values, attended, scratch, _owner._cacheLength, runStarts, runLengths, runUnits, _units,
                    cacheRows, positions, avx512, parts);
                if (parts == 1) job.RunPart(0);
                else WorkerPool.Run(job, parts);
            }
        }
    }

    private readonly struct AttentionJob(ModelConfig c, float* q, float* keys, float* values, float* attended, float* scratch, int cacheLength,
        int* runStarts, int* runLengths, int* runUnits, int units, int* cacheRows, int* positions, bool avx512, int parts) : IPartedJob
    {
        public void RunPart(int part)
        {
            var (rows, columns) = MatMul.TileShape(avx512);
            var xs = stackalloc float*[rows];
            var ws = stackalloc float*[columns];
            var sums = stackalloc float[rows * columns];
            var scores = scratch + (long)part * rows * cacheLength;
            var run = 0;
            for (var unit = part; unit < units; unit += parts)
            {
                while (runUnits[run + 1] <= unit) run++;
                Unit(run, unit - runUnits[run], rows, columns, xs, ws, sums, scores);
            }
        }

        private void Unit(int run, int index, int rows, int columns, float** xs, float** ws, float* sums, float* scores)
        {
            var (heads, kvHeads, headDim) = (c.NumAttentionHeads, c.KeyValueHeads, c.HeadDim);
            var group = heads / kvHeads;
            var (start, length) = (runStarts[run], runLengths[run]);
            var kv = index % kvHeads;
            var first = index / kvHeads * rows;
            var valid = Math.Min(rows, length * group - first);
            var scale = 1f / MathF.Sqrt(headDim);
            // Query i of the block: token start + (first + i) / group, head kv·group + (first + i) % group.
            var limit = 0;
            for (var i = 0; i < rows; i++)
            {
                var query = first + Math.Min(i, valid - 1);
                var token = start + query / group;
                xs[i] = q + ((long)token * heads + kv * group + query % group) * headDim;
                limit = Math.Max(limit, positions[token] + 1);
            }
            var offset = ((long)cacheRows[start] * kvHeads + kv) * cacheLength * headDim;
            float* rowKeys = keys + offset, rowValues = values + offset;
            for (var key = 0; key < limit; key += columns)
            {
                for (var j = 0; j < columns; j++) ws[j] = rowKeys + (long)Math.Min(key + j, limit - 1) * headDim;
                MatMul.TileSums(avx512, xs, ws, headDim, sums);
                var count = Math.Min(columns, limit - key);
                for (var i = 0; i < valid; i++)
                for (var j = 0; j < count; j++)
                    scores[(long)i * cacheLength + key + j] = sums[i * columns + j] * scale;
            }
            for (var i = 0; i < valid; i++)
            {
                var query = first + i;
                var token = start + query / group;
                var seen = positions[token] + 1;
                var row = scores + (long)i * cacheLength;
                Softmax(row, seen);
                var o = attended + ((long)token * heads + kv * group + query % group) * headDim;
                new Span<float>(o, headDim).Clear();
                for (var j = 0; j < seen; j++) Axpy(row[j], rowValues + (long)j * headDim, o, headDim);
            }
        }

        /// <summary>x = softmax(x) over its first <paramref name="n"/> values.</summary>
        private static void Softmax(float* x, int n)
        {
            var max = float.NegativeInfinity;
            for (var j = 0; j < n; j++) max = Math.Max(max, x[j]);
            var sum = 0f;
            var j8 = 0;
            var m = Vector256.Create(max);
            var sums = Vector256<float>.Zero;
            for (; j8 + 8 <= n; j8 += 8)
            {
                var e = Vector256.Exp(Vector256.Load(x + j8) - m);
                e.Store(x + j8);
                sums += e;
            }
            sum = Vector256.Sum(sums);
            for (var j = j8; j < n; j++)
            {
                var e = MathF.Exp(x[j] - max);
                x[j] = e;
                sum += e;
            }
            var inverse = 1f / sum;
            for (var j = 0; j < n; j++) x[j] *= inverse;
        }

        private static void Axpy(float alpha, float* x, float* y, int n)
        {
            var a = Vector256.Create(alpha);
            var i = 0;
            for (; i + 8 <= n; i += 8) MatVec.MulAdd(a, Vector256.Load(x + i), Vector256.Load(y + i)).Store(y + i);
            for (; i < n; i++) y[i] += alpha * x[i];
        }
    }

    /// <summary>The rotary tables this step reads (the decoder makes a new step when the model grows them).</summary>
    public RotaryEmbedding Rope { get; }

    private sealed class Layer(float* inputNorm, float* postAttentionNorm, Matrix q, Matrix k, Matrix v, Matrix o, Matrix gate, Matrix up, Matrix down)
    {
        public float* InputNorm { get; } = inputNorm;
        public float* PostAttentionNorm { get; } = postAttentionNorm;
        public Matrix Q { get; } = q;
        public Matrix K { get; } = k;
        public Matrix V { get; } = v;
        public Matrix O { get; } = o;
        public Matrix Gate { get; } = gate;
        public Matrix Up { get; } = up;
        public Matrix Down { get; } = down;
    }

    /// <summary>A weight matrix as the kernels read it: its memory, element type, optional bias and int8 block scales.</summary>
    private sealed class Matrix(ScalarType kind, void* weight, float* bias, float* scales, int inFeatures, int outFeatures)
    {
        private ScalarType Kind { get; } = kind;
        private void* Weight { get; } = weight;
        private float* Bias { get; } = bias;
        private float* Scales { get; } = scales;
        private int In { get; } = inFeatures;
        private int Out { get; } = outFeatures;

        public static Matrix Of(Projection p) => Of(p.weight, p.bias, p.weight_scales);

        public static Matrix Of(Tensor weight, Tensor? bias, Tensor? scales) => new(weight.dtype, Projection.Data(weight),
            bias is null ? null : (float*)Projection.Data(bias), scales is null ? null : (float*)Projection.Data(scales),
            (int)weight.shape[1], (int)weight.shape[0]);

        public static bool Supports(Tensor weight, Tensor? scales) =>
            weight.device_type == DeviceType.CPU && weight.dim() == 2 && weight.is_contiguous() && weight.shape[0] <= int.MaxValue
            && weight.shape[1] <= int.MaxValue && weight.dtype switch
            {
                ScalarType.Float32 or ScalarType.BFloat16 => true,
                ScalarType.Int8 => MatVec.IsInt8Accelerated && scales is { dtype: ScalarType.Float32 } && scales.is_contiguous()
                                   && weight.shape[1] % Int8Blocks.BlockSize == 0,
                _ => false,
            };

        public void Multiply(float* x, float* y, int rows, int threads) =>
            Projection.Multiply(Kind, x, Weight, Scales, Bias, y, rows, In, Out, threads);

        /// <summary>Row <paramref name="index"/> widened to fp32 (the token embedding).</summary>
        public void Row(long index, float* target, int n)
        {
            switch (Kind)
            {
                case ScalarType.Float32: Unsafe.CopyBlock(target, (float*)Weight + index * n, (uint)(n * sizeof(float))); break;
                case ScalarType.BFloat16: MatVec.WidenBFloat16((ushort*)Weight + index * n, target, n); break;
                default: MatVec.WidenInt8((sbyte*)Weight + index * n, Scales + index * (n / Int8Blocks.BlockSize), target, n); break;
            }
        }
    }

    /// <summary>A pass's working memory, for up to <see cref="Tokens"/> tokens (the head's rows grow on their own).</summary>
    private sealed class Buffers
    {
        public Buffers(ModelConfig c, int tokens, Buffers? previous)
        {
            Tokens = tokens;
            Hidden = new float[tokens * c.HiddenSize];
            Normed = new float[tokens * c.HiddenSize];
            Query = new float[tokens * c.NumAttentionHeads * c.HeadDim];
            Key = new float[tokens * c.KeyValueHeads * c.HeadDim];
            Value = new float[tokens * c.KeyValueHeads * c.HeadDim];
            Attended = new float[tokens * c.NumAttentionHeads * c.HeadDim];
            Output = new float[tokens * c.HiddenSize];
            Gate = new float[tokens * c.IntermediateSize];
            Up = new float[tokens * c.IntermediateSize];
            Rows = new int[tokens];
            Positions = new int[tokens];
            RunStarts = new int[tokens];
            RunLengths = new int[tokens];
            RunUnits = new int[tokens + 1];
            (Selected, Logits, Scores) = previous is null ? ([], [], []) : (previous.Selected, previous.Logits, previous.Scores);
        }

        public int Tokens { get; }
        public float[] Hidden { get; }
        public float[] Normed { get; }
        public float[] Query { get; }
        public float[] Key { get; }
        public float[] Value { get; }
        public float[] Attended { get; }
        public float[] Output { get; }
        public float[] Gate { get; }
        public float[] Up { get; }
        public int[] Rows { get; }
        public int[] Positions { get; }
        public int[] RunStarts { get; }
        public int[] RunLengths { get; }
        public int[] RunUnits { get; }

        /// <summary>The final-normed hidden states of the tokens whose logits are asked for.</summary>
        public float[] Selected { get; private set; }
        public float[] Logits { get; private set; }
        public float[] Scores { get; private set; }

        public void HoldLogits(int rows, ModelConfig c)
        {
            if (Logits.Length >= (long)rows * c.VocabSize) return;
            Selected = new float[rows * c.HiddenSize];
            Logits = new float[(long)rows * c.VocabSize];
        }

        public float[] HoldScores(int count)
        {
            if (Scores.Length < count) Scores = new float[count];
            return Scores;
        }
    }
}
