using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using HuatuoAspire.Model.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.Generation;

/// <summary>
/// One decode step of a few rows (batch 1 to <see cref="MatVec.MaxRows"/>) on the CPU in fp32, as one managed loop over
/// the model's own weight and cache memory: embedding rows, RMSNorm, the <see cref="MatVec"/> products (fp32, bf16 or
/// int8 weights), rotary embedding, attention over the cached prefix, SwiGLU and the head, into buffers made once.
/// The libtorch path issues ~40 tensor operations per layer, each ~10 µs of call, allocation and dispose-scope work
/// (measured: base preset, int8, 1 thread, ~9 ms of a 13.7 ms step); here a step allocates nothing. It computes
/// what <see cref="DecoderModel.forward"/> computes with a <see cref="DecodeCache"/>, in the same operation order, so
/// results agree with it to float rounding (tests compare both). Not for training (no autograd), LoRA or CUDA.
/// </summary>
public sealed unsafe class CpuDecodeStep
{
    /// <summary>Whether decode may take this path (default true; <c>HUATUO_FUSED_DECODE=0</c> measures libtorch's path side by side).</summary>
    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("HUATUO_FUSED_DECODE") != "0";

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
    private readonly int _cacheLength;
    private readonly int _ropePositions;
    private readonly Buffers _buffers;

    private CpuDecodeStep(CausalLanguageModel model, KvCache cache, RotaryEmbedding rope)
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
        _cacheLength = cache.MaxLength;
        _buffers = new Buffers(_config, cache.Rows, cache.MaxLength);
        Rope = rope;
    }

    /// <summary>
    /// The step for <paramref name="model"/> over <paramref name="cache"/>, or null where this path does not apply (not
    /// CPU fp32, no vector kernel, a LoRA adapter attached, a non-contiguous or unsupported weight).
    /// </summary>
    public static CpuDecodeStep? TryCreate(CausalLanguageModel model, KvCache cache, RotaryEmbedding rope)
    {
        if (!Applies(model) || cache.Rows > MatVec.MaxRows) return null;
        if (cache.Keys.Any(k => k.dtype != ScalarType.Float32 || !k.is_contiguous()) || cache.Values.Any(v => v.dtype != ScalarType.Float32 || !v.is_contiguous()))
            return null;
        if (!rope.CosTable.is_contiguous() || rope.CosTable.device_type != DeviceType.CPU) return null;
        return new CpuDecodeStep(model, cache, rope);
    }

    private static bool Applies(CausalLanguageModel model)
    {
        if (!Projection.KernelEnabled || !MatVec.IsAccelerated || model.Placement.Device.type != DeviceType.CPU
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
    /// Runs one step: row r feeds <paramref name="tokens"/>[r] at position <paramref name="positions"/>[r], writes its
    /// key/value there and attends to positions 0..positions[r]. Returns the logits, <paramref name="rows"/> × vocab,
    /// in a buffer this object reuses on the next call.
    /// </summary>
    public Span<float> Run(ReadOnlySpan<long> tokens, ReadOnlySpan<long> positions, int rows)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, _buffers.Rows);
        for (var r = 0; r < rows; r++)
        {
            if (positions[r] < 0 || positions[r] >= Math.Min(_cacheLength, _ropePositions))
                throw new ArgumentOutOfRangeException(nameof(positions), $"position {positions[r]} is outside the cache.");
        }
        var c = _config;
        var (hidden, heads, kvHeads, headDim) = (c.HiddenSize, c.NumAttentionHeads, c.KeyValueHeads, c.HeadDim);
        var threads = Projection.KernelThreads ?? get_num_threads();
        var eps = (float)c.RmsNormEps;
        var b = _buffers;
        fixed (float* h = b.Hidden, x = b.Normed, q = b.Query, k = b.Key, v = b.Value, attended = b.Attended, output = b.Output,
               gate = b.Gate, up = b.Up, scores = b.Scores, logits = b.Logits)
        {
            for (var r = 0; r < rows; r++) _embedding.Row(tokens[r], h + (long)r * hidden, hidden);
            for (var l = 0; l < _layers.Length; l++)
            {
                var layer = _layers[l];
                float* keys = (float*)_keys[l], values = (float*)_values[l];
                RmsNorm(h, layer.InputNorm, x, rows, hidden, eps);
                layer.Q.Multiply(x, q, rows, threads);
                layer.K.Multiply(x, k, rows, threads);
                layer.V.Multiply(x, v, rows, threads);
                for (var r = 0; r < rows; r++)
                {
                    var p = (int)positions[r];
                    float* cos = _cos + (long)p * headDim, sin = _sin + (long)p * headDim;
                    for (var head = 0; head < heads; head++) Rotate(q + ((long)r * heads + head) * headDim, cos, sin, headDim);
                    for (var head = 0; head < kvHeads; head++)
                    {
                        var key = k + ((long)r * kvHeads + head) * headDim;
                        Rotate(key, cos, sin, headDim);
                        var at = (((long)r * kvHeads + head) * _cacheLength + p) * headDim;
                        Unsafe.CopyBlock(keys + at, key, (uint)(headDim * sizeof(float)));
                        Unsafe.CopyBlock(values + at, v + ((long)r * kvHeads + head) * headDim, (uint)(headDim * sizeof(float)));
                    }
                    Attend(q + (long)r * heads * headDim, keys, values, r, p + 1, attended + (long)r * heads * headDim, scores);
                }
                layer.O.Multiply(attended, output, rows, threads);
                Add(h, output, (long)rows * hidden);
                RmsNorm(h, layer.PostAttentionNorm, x, rows, hidden, eps);
                layer.Gate.Multiply(x, gate, rows, threads);
                layer.Up.Multiply(x, up, rows, threads);
                SiluTimes(gate, up, (long)rows * c.IntermediateSize);
                layer.Down.Multiply(gate, output, rows, threads);
                Add(h, output, (long)rows * hidden);
            }
            RmsNorm(h, _finalNorm, x, rows, hidden, eps);
            _head.Multiply(x, logits, rows, threads);
        }
        return b.Logits.AsSpan(0, rows * c.VocabSize);
    }

    /// <summary>
    /// softmax(q·Kᵀ / √d)·V for every query head of one row over positions [0, <paramref name="length"/>) of its cache
    /// row; query heads share their key/value head as Hugging Face's repeat_kv pairs them.
    /// </summary>
    private void Attend(float* q, float* keys, float* values, int row, int length, float* target, float* scores)
    {
        var (heads, kvHeads, headDim) = (_config.NumAttentionHeads, _config.KeyValueHeads, _config.HeadDim);
        var group = heads / kvHeads;
        var scale = 1f / MathF.Sqrt(headDim);
        for (var head = 0; head < heads; head++)
        {
            var kv = head / group;
            var rowKeys = keys + ((long)row * kvHeads + kv) * _cacheLength * headDim;
            var rowValues = values + ((long)row * kvHeads + kv) * _cacheLength * headDim;
            var query = q + (long)head * headDim;
            var max = float.NegativeInfinity;
            for (var j = 0; j < length; j++)
            {
                var s = Dot(query, rowKeys + (long)j * headDim, headDim) * scale;
                scores[j] = s;
                if (s > max) max = s;
            }
            var sum = 0f;
            for (var j = 0; j < length; j++)
            {
                var e = MathF.Exp(scores[j] - max);
                scores[j] = e;
                sum += e;
            }
            var o = target + (long)head * headDim;
            new Span<float>(o, headDim).Clear();
            var inverse = 1f / sum;
            for (var j = 0; j < length; j++) Axpy(scores[j] * inverse, rowValues + (long)j * headDim, o, headDim);
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
            for (var i = 0; i < n; i++) result[i] = weight[i] * (source[i] * inverse);
        }
    }

    /// <summary>x·cos + rotate_half(x)·sin in place ("rotate half": pairs i and i + d/2).</summary>
    private static void Rotate(float* x, float* cos, float* sin, int headDim)
    {
        var half = headDim / 2;
        for (var i = 0; i < half; i++)
        {
            float a = x[i], b = x[i + half];
            x[i] = a * cos[i] + -b * sin[i];
            x[i + half] = b * cos[i + half] + a * sin[i + half];
        }
    }

    private static void SiluTimes(float* gate, float* up, long n)
    {
        for (long i = 0; i < n; i++)
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

    private static void Axpy(float alpha, float* x, float* y, int n)
    {
        var a = Vector256.Create(alpha);
        var i = 0;
        for (; i + 8 <= n; i += 8) MatVec.MulAdd(a, Vector256.Load(x + i), Vector256.Load(y + i)).Store(y + i);
        for (; i < n; i++) y[i] += alpha * x[i];
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

        public void Multiply(float* x, float* y, int rows, int threads)
        {
            switch (Kind)
            {
                case ScalarType.Float32: MatVec.Multiply(x, (float*)Weight, Bias, y, rows, In, Out, threads); break;
                case ScalarType.BFloat16: MatVec.MultiplyBFloat16(x, (ushort*)Weight, Bias, y, rows, In, Out, threads); break;
                default: MatVec.MultiplyInt8(x, (sbyte*)Weight, Scales, Bias, y, rows, In, Out, threads); break;
            }
        }

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

    /// <summary>The step's working memory, made once for the decoder's most rows.</summary>
    private sealed class Buffers(ModelConfig c, int rows, int maxLength)
    {
        public int Rows { get; } = rows;
        public float[] Hidden { get; } = new float[rows * c.HiddenSize];
        public float[] Normed { get; } = new float[rows * c.HiddenSize];
        public float[] Query { get; } = new float[rows * c.NumAttentionHeads * c.HeadDim];
        public float[] Key { get; } = new float[rows * c.KeyValueHeads * c.HeadDim];
        public float[] Value { get; } = new float[rows * c.KeyValueHeads * c.HeadDim];
        public float[] Attended { get; } = new float[rows * c.NumAttentionHeads * c.HeadDim];
        public float[] Output { get; } = new float[rows * c.HiddenSize];
        public float[] Gate { get; } = new float[rows * c.IntermediateSize];
        public float[] Up { get; } = new float[rows * c.IntermediateSize];
        public float[] Scores { get; } = new float[maxLength];
        public float[] Logits { get; } = new float[rows * c.VocabSize];
    }
}
