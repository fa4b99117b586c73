using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// Rounds activations (the x of an int8 product) to int8 blocks of <see cref="Int8Blocks.BlockSize"/> with one scale
/// each, by exactly <see cref="Int8Blocks.Quantize"/>'s rule (llama.cpp's Q8_0: d = max|x|/127 kept as fp16,
/// q = round(x/d) half away from zero), vectorized: it runs on every product's input, every decode step.
/// </summary>
public static unsafe class ActivationBlocks
{
    /// <summary>Quantizes <paramref name="x"/> (whole blocks) into <paramref name="quants"/> and <paramref name="scales"/>.</summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<sbyte> quants, Span<float> scales)
    {
        if (x.Length % Int8Blocks.BlockSize != 0) throw new ArgumentException($"{x.Length} values do not split into blocks of {Int8Blocks.BlockSize}.", nameof(x));
        ArgumentOutOfRangeException.ThrowIfLessThan(quants.Length, x.Length, nameof(quants));
        ArgumentOutOfRangeException.ThrowIfLessThan(scales.Length, x.Length / Int8Blocks.BlockSize, nameof(scales));
        fixed (float* source = x, d = scales)
        fixed (sbyte* q = quants)
            Quantize(source, q, d, x.Length);
    }

    /// <summary>Quantizes <paramref name="count"/> values (whole blocks) of <paramref name="x"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Quantize(float* x, sbyte* quants, float* scales, long count)
    {
        if (!Avx2.IsSupported)
        {
            Int8Blocks.Quantize(new ReadOnlySpan<float>(x, checked((int)count)), new Span<sbyte>(quants, (int)count),
                new Span<float>(scales, (int)(count / Int8Blocks.BlockSize)));
            return;
        }
        var signBit = Vector256.Create(-0f);
        var one = Vector256.Create(1f);
        var half = Vector256.Create(0.5f);
        for (long i = 0, g = 0; i < count; i += Int8Blocks.BlockSize, g++)
        {
            var v0 = Vector256.Load(x + i);
            var v1 = Vector256.Load(x + i + 8);
            var v2 = Vector256.Load(x + i + 16);
            var v3 = Vector256.Load(x + i + 24);
            var m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
            var amax = Vector128.Max(m.GetLower(), m.GetUpper());
            amax = Vector128.Max(amax, Vector128.Shuffle(amax, Vector128.Create(2, 3, 0, 1)));
            amax = Vector128.Max(amax, Vector128.Shuffle(amax, Vector128.Create(1, 0, 3, 2)));
            var d = amax.ToScalar() / 127f;
            var id = Vector256.Create(d != 0 ? 1f / d : 0f);
            scales[g] = (float)(Half)d;
            var q01 = Vector256.Narrow(Round(v0 * id, signBit, one, half), Round(v1 * id, signBit, one, half));
            var q23 = Vector256.Narrow(Round(v2 * id, signBit, one, half), Round(v3 * id, signBit, one, half));
            Vector256.Narrow(q01, q23).Store(quants + i);
        }
    }

    /// <summary>
    /// Round half away from zero, exactly (t − trunc(t) is exact in fp32), as int32; adding 0.5 and truncating would
    /// round 0.49999997 up.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Round(Vector256<float> t, Vector256<float> signBit, Vector256<float> one, Vector256<float> half)
    {
        var whole = Avx.RoundToZero(t);
        var away = Vector256.GreaterThanOrEqual(Vector256.Abs(t - whole), half) & ((t & signBit) | one);
        return Avx.ConvertToVector256Int32WithTruncation(whole + away);
    }
}
