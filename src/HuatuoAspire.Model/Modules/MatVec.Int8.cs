using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// The product on int8 weights with one fp32 scale per block of 32 weights of a row (<see cref="Int8Blocks"/>): a
/// quarter of fp32's bytes. As llama.cpp's Q8_0 path does, each row of x is first rounded to int8 blocks of 32 by the
/// same rule (<see cref="ActivationBlocks"/>), then every block is an integer dot product of 32 byte pairs (AVX-VNNI's
/// <c>vpdpbusd</c> where present, else AVX2's <c>vpmaddubsw</c> + <c>vpmaddwd</c>, on |x| and w·sign(x)) summed in
/// int32 and scaled once by d_w·d_x: about half the instructions per weight of widening every weight to fp32.
/// </summary>
public static unsafe partial class MatVec
{
    /// <summary>Whether this machine runs the int8 kernel (it needs AVX2's byte products).</summary>
    public static bool IsInt8Accelerated => Avx2.IsSupported;

    /// <summary>How far ahead of the rows it reads the int8 kernel prefetches (past a range's end it costs a little bandwidth).</summary>
    private const int Int8PrefetchBytes = 16 << 10;

    [ThreadStatic] private static sbyte* t_quants;
    [ThreadStatic] private static float* t_quantScales;
    [ThreadStatic] private static long t_quantsLength;
    [ThreadStatic] private static long t_quantScalesLength;

    /// <summary>
    /// y = x·Wᵀ + b with W [outFeatures, inFeatures] int8 and <paramref name="scales"/> [outFeatures, inFeatures / 32];
    /// <paramref name="inFeatures"/> must be a multiple of 32. x is rounded to int8 blocks first (llama.cpp's Q8_0 rule).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyInt8(float* x, sbyte* w, float* scales, float* b, float* y, int rows, int inFeatures, int outFeatures, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, MaxRows);
        if (inFeatures % Int8Blocks.BlockSize != 0) throw new ArgumentException($"{inFeatures} input features are not whole blocks of {Int8Blocks.BlockSize}.");
        QuantizeActivations(x, rows, inFeatures, out var xq, out var xd);
        var workers = Workers(threads, rows, inFeatures, outFeatures);
        if (workers <= 1)
        {
            RangeInt8(xq, xd, w, scales, b, y, rows, inFeatures, outFeatures, 0, outFeatures);
            return;
        }
        WorkerPool.Run(new Job(WeightKind.Int8, xq, w, scales, b, y, rows, inFeatures, outFeatures, workers, xd), workers);
    }

    /// <summary>
    /// x's rows as int8 blocks and their scales, in buffers of the calling thread that the workers read while the caller
    /// waits for them.
    /// </summary>
    internal static void QuantizeActivations(float* x, int rows, int n, out sbyte* quants, out float* scales)
    {
        var length = (long)rows * n;
        quants = ThreadBuffer(ref t_quants, ref t_quantsLength, length);
        scales = ThreadBuffer(ref t_quantScales, ref t_quantScalesLength, length / Int8Blocks.BlockSize);
        ActivationBlocks.Quantize(x, quants, scales, length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RangeInt8(sbyte* xq, float* xd, sbyte* w, float* scales, float* b, float* y, int rows, int n, int outFeatures, int o0, int o1)
    {
        var blocks = n / Int8Blocks.BlockSize;
        var o = o0;
        // Four weight rows in flight; for several input rows they are read again from cache, not from memory.
        for (; o + 4 <= o1; o += 4)
        {
            var w0 = w + (long)o * n;
            var s0 = scales + (long)o * blocks;
            for (var r = 0; r < rows; r++)
            {
                Int8Dot4(w0, s0, n, xq + (long)r * n, xd + (long)r * blocks, out var sums);
                Store4(y + (long)r * outFeatures + o, sums, b, o);
            }
        }
        for (; o < o1; o++)
        for (var r = 0; r < rows; r++)
            y[(long)r * outFeatures + o] = Int8Dot1(w + (long)o * n, scales + (long)o * blocks, n, xq + (long)r * n, xd + (long)r * blocks)
                                           + (b is null ? 0f : b[o]);
    }

    /// <summary>Dequantizes <paramref name="count"/> int8 values (whole blocks) with their block scales to fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WidenInt8(sbyte* source, float* scales, float* target, long count)
    {
        for (long i = 0, g = 0; i < count; i += Int8Blocks.BlockSize, g++)
        {
            if (Avx2.IsSupported)
            {
                var d = Vector256.Create(scales[g]);
                for (var k = 0; k < Int8Blocks.BlockSize; k += 8) (Widen(source + i + k) * d).Store(target + i + k);
            }
            else
            {
                for (var k = 0; k < Int8Blocks.BlockSize; k++) target[i + k] = source[i + k] * scales[g];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(sbyte* at) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(at));

    /// <summary>
    /// Σ x_k·w_k over one block of 32 as eight int32 partial sums, from |x| (unsigned) and w·sign(x): both operands of
    /// the byte product then carry the right sign, and |x|, |w| ≤ 127 keep vpmaddubsw's int16 pairs from saturating.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> BlockDot(Vector256<byte> absX, Vector256<sbyte> signX, Vector256<sbyte> w)
    {
        var signedW = Avx2.Sign(w, signX);
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, absX, signedW);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(absX, signedW), Vector256.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Int8Dot4(sbyte* w0, float* s0, int n, sbyte* xq, float* xd, out Vector128<float> sums)
    {
        sbyte* w1 = w0 + n, w2 = w1 + n, w3 = w2 + n;
        var blocks = n / Int8Blocks.BlockSize;
        float* s1 = s0 + blocks, s2 = s1 + blocks, s3 = s2 + blocks;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        // The four rows are one contiguous stream of 4n bytes, of which a block step reads 128: ask for the two lines
        // 16 KiB ahead of that pace. The hardware prefetcher stops at 4 KiB pages (a quad of base-preset rows is 3 KiB);
        // measured on the base preset's 127 products, 1 thread: 3.3 vs 7.8 ms per step (34 vs 15 GB/s, the copy bound).
        var ahead = w0 + Int8PrefetchBytes;
        for (int g = 0, i = 0; g < blocks; g++, i += Int8Blocks.BlockSize)
        {
            Sse.Prefetch0(ahead + 4 * i);
            Sse.Prefetch0(ahead + 4 * i + 64);
            var xv = Vector256.Load(xq + i);
            var ax = Avx2.Abs(xv);
            var d = Vector256.Create(xd[g]);
            a0 = MulAdd(Avx.ConvertToVector256Single(BlockDot(ax, xv, Vector256.Load(w0 + i))), Vector256.Create(s0[g]) * d, a0);
            a1 = MulAdd(Avx.ConvertToVector256Single(BlockDot(ax, xv, Vector256.Load(w1 + i))), Vector256.Create(s1[g]) * d, a1);
            a2 = MulAdd(Avx.ConvertToVector256Single(BlockDot(ax, xv, Vector256.Load(w2 + i))), Vector256.Create(s2[g]) * d, a2);
            a3 = MulAdd(Avx.ConvertToVector256Single(BlockDot(ax, xv, Vector256.Load(w3 + i))), Vector256.Create(s3[g]) * d, a3);
        }
        sums = Vector128.Create(Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Int8Dot1(sbyte* w, float* s, int n, sbyte* xq, float* xd)
    {
        Vector256<float> a = default;
        for (int g = 0, i = 0; i < n; g++, i += Int8Blocks.BlockSize)
        {
            var xv = Vector256.Load(xq + i);
            a = MulAdd(Avx.ConvertToVector256Single(BlockDot(Avx2.Abs(xv), xv, Vector256.Load(w + i))), Vector256.Create(s[g] * xd[g]), a);
        }
        return Vector256.Sum(a);
    }
}
