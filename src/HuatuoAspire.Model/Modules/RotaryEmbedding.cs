using static TorchSharp.torch;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// Rotary position embeddings as Hugging Face computes them (the "rotate half" convention), with Llama-3's frequency
/// scaling when the config asks for it. Cos/sin tables are computed once per device for every position.
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _cos;
    private readonly Tensor _sin;

    public RotaryEmbedding(ModelConfig config, Device device, int maxPositions)
    {
        InverseFrequencies = ComputeInverseFrequencies(config);
        var half = InverseFrequencies.Length;
        var angles = new float[maxPositions * half * 2];
        for (var p = 0; p < maxPositions; p++)
        {
            for (var i = 0; i < half; i++)
            {
                var a = (float)((float)p * (float)InverseFrequencies[i]); // float32 products, as torch does
                angles[p * half * 2 + i] = a;
                angles[p * half * 2 + half + i] = a;
            }
        }
        using var emb = tensor(angles, [maxPositions, half * 2]);
        // The tables outlive whatever dispose scope first asked for them (Rope() grows them lazily inside forwards).
        _cos = emb.cos().to(device).DetachFromDisposeScope();
        _sin = emb.sin().to(device).DetachFromDisposeScope();
        MaxPositions = maxPositions;
    }

    public double[] InverseFrequencies { get; }

    /// <summary>cos of every position's angles, [positions, headDim] (<see cref="Generation.CpuForward"/> reads it in place).</summary>
    internal Tensor CosTable => _cos;

    /// <summary>sin of every position's angles, [positions, headDim].</summary>
    internal Tensor SinTable => _sin;
    public int MaxPositions { get; }

    /// <summary>cos and sin for the given positions ([B, T] int64), shaped [B, 1, T, headDim] in <paramref name="dtype"/>.</summary>
    public (Tensor Cos, Tensor Sin) For(Tensor positions, ScalarType dtype)
    {
        var b = positions.shape[0];
        var t = positions.shape[1];
        using var flat = positions.reshape(-1);
        var cos = _cos.index_select(0, flat).view(b, 1, t, -1);
        var sin = _sin.index_select(0, flat).view(b, 1, t, -1);
        return dtype == ScalarType.Float32 ? (cos, sin) : (cos.to(dtype), sin.to(dtype));
    }

    /// <summary>x * cos + rotate_half(x) * sin.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        var half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        var rotated = cat([x2.neg(), x1], -1);
        return (x * cos + rotated * sin).MoveToOuterDisposeScope();
    }

    /// <summary>The rotary frequencies, scaled as <c>rope_scaling.rope_type = "llama3"</c> prescribes.</summary>
    public static double[] ComputeInverseFrequencies(ModelConfig config)
    {
        var dim = config.HeadDim;
        var inv = new double[dim / 2];
        for (var i = 0; i < inv.Length; i++)
        {
            // HF: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=int64).float() / dim)), in float32.
            inv[i] = (float)(1.0 / Math.Pow(config.RopeTheta, (float)(2 * i) / dim));
        }
        if (config.RopeScaling is { RopeType: "llama3" } s)
        {
            var lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
            var highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
            for (var i = 0; i < inv.Length; i++)
            {
                var wavelen = 2 * Math.PI / inv[i];
                if (wavelen < highWavelen) continue; // high frequencies: unchanged
                if (wavelen > lowWavelen)
                {
                    inv[i] = (float)(inv[i] / s.Factor);
                    continue;
                }
                var smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                inv[i] = (float)((1 - smooth) * inv[i] / s.Factor + smooth * inv[i]);
            }
        }
        return inv;
    }

    public void Dispose()
    {
        _cos.Dispose();
        _sin.Dispose();
    }
}
