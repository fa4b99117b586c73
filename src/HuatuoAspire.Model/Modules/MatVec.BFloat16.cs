using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// The decode product on bf16 weights: half the bytes of fp32 per step. A bf16 value is the top half of an fp32, so
/// a 32-bit lane holding two neighbours gives the odd one by masking off the low half and the even one by shifting it
/// up: no shuffle, two integer operations per eight weights. x is split once per call into the matching even/odd order.
/// </summary>
public static unsafe partial class MatVec
{
    /// <summary>How far ahead of the rows it reads the bf16 kernel prefetches.</summary>
    private const int Bf16PrefetchBytes = 32 << 10;

    [ThreadStatic] private static float* t_split;
    [ThreadStatic] private static long t_splitLength;

    /// <summary>y = x·Wᵀ + b with W [outFeatures, inFeatures] bf16 (raw 16-bit patterns), x and y fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyBFloat16(float* x, ushort* w, float* b, float* y, int rows, int inFeatures, int outFeatures, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, MaxRows);
        var split = SplitEvenOdd(x, rows, inFeatures);
        var workers = Workers(threads, rows, inFeatures, outFeatures);
        if (workers <= 1)
        {
            RangeBf16(split, w, b, y, rows, inFeatures, outFeatures, 0, outFeatures);
            return;
        }
        WorkerPool.Run(new Job(WeightKind.BFloat16, split, w, null, b, y, rows, inFeatures, outFeatures, workers), workers);
    }

    /// <summary>
    /// Each row of x with every block of 16 reordered as its 8 even then its 8 odd elements (the tail past the last
    /// whole block as is), in a buffer of the calling thread that the workers read while the caller waits for them.
    /// </summary>
    private static float* SplitEvenOdd(float* x, int rows, int n)
    {
        var split = ThreadBuffer(ref t_split, ref t_splitLength, (long)rows * n);
        var blocks = n / 16 * 16;
        for (var r = 0; r < rows; r++)
        {
            float* source = x + (long)r * n, target = split + (long)r * n;
            for (var i = 0; i < blocks; i += 16)
            for (var k = 0; k < 8; k++)
            {
                target[i + k] = source[i + 2 * k];
                target[i + 8 + k] = source[i + 2 * k + 1];
            }
            for (var i = blocks; i < n; i++) target[i] = source[i];
        }
        return split;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RangeBf16(float* xs, ushort* w, float* b, float* y, int rows, int n, int outFeatures, int o0, int o1)
    {
        var o = o0;
        // Four weight rows in flight; for several input rows they are read again from cache, not from memory.
        for (; o + 4 <= o1; o += 4)
        {
            var w0 = w + (long)o * n;
            var r = 0;
            for (; r + 2 <= rows; r += 2)
            {
                Bf16Dot4x2(w0, n, xs + (long)r * n, xs + (long)(r + 1) * n, out var a, out var c);
                Store4(y + (long)r * outFeatures + o, a, b, o);
                Store4(y + (long)(r + 1) * outFeatures + o, c, b, o);
            }
            if (r < rows)
            {
                Bf16Dot4(w0, n, xs + (long)r * n, out var sums);
                Store4(y + (long)r * outFeatures + o, sums, b, o);
            }
        }
        for (; o < o1; o++)
        for (var r = 0; r < rows; r++)
            y[(long)r * outFeatures + o] = Bf16Dot1(w + (long)o * n, xs + (long)r * n, n) + (b is null ? 0f : b[o]);
    }

    /// <summary>Widens <paramref name="count"/> bf16 values to fp32 (prefill widens weights a block at a time).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WidenBFloat16(ushort* source, float* target, long count)
    {
        long i = 0;
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported)
            for (; i + 8 <= count; i += 8)
                (System.Runtime.Intrinsics.X86.Avx2.ConvertToVector256Int32(source + i) << 16).AsSingle().Store(target + i);
        for (; i < count; i++) target[i] = Bf16(source[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Bf16(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Bf16Dot4(ushort* w0, int n, float* xs, out Vector128<float> sums)
    {
        ushort* w1 = w0 + n, w2 = w1 + n, w3 = w2 + n;
        var high = Vector256.Create(0xFFFF0000u);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        var i = 0;
        // As the int8 kernel: the four rows are one stream (8 bytes per element step), prefetched 32 KiB ahead; measured
        // on the base preset's products, 1 thread: 6.5 vs 12.4 ms per step.
        var ahead = (byte*)w0 + Bf16PrefetchBytes;
        for (; i + 16 <= n; i += 16)
        {
            Sse.Prefetch0(ahead + 8 * i);
            Sse.Prefetch0(ahead + 8 * i + 64);
            var even = Vector256.Load(xs + i);
            var odd = Vector256.Load(xs + i + 8);
            var v0 = Vector256.Load((uint*)(w0 + i));
            a0 = MulAdd((v0 << 16).AsSingle(), even, a0);
            c0 = MulAdd((v0 & high).AsSingle(), odd, c0);
            var v1 = Vector256.Load((uint*)(w1 + i));
            a1 = MulAdd((v1 << 16).AsSingle(), even, a1);
            c1 = MulAdd((v1 & high).AsSingle(), odd, c1);
            var v2 = Vector256.Load((uint*)(w2 + i));
            a2 = MulAdd((v2 << 16).AsSingle(), even, a2);
            c2 = MulAdd((v2 & high).AsSingle(), odd, c2);
            var v3 = Vector256.Load((uint*)(w3 + i));
            a3 = MulAdd((v3 << 16).AsSingle(), even, a3);
            c3 = MulAdd((v3 & high).AsSingle(), odd, c3);
        }
        float s0 = Vector256.Sum(a0 + c0), s1 = Vector256.Sum(a1 + c1), s2 = Vector256.Sum(a2 + c2), s3 = Vector256.Sum(a3 + c3);
        for (; i < n; i++)
        {
            var xv = xs[i];
            s0 += Bf16(w0[i]) * xv;
            s1 += Bf16(w1[i]) * xv;
            s2 += Bf16(w2[i]) * xv;
            s3 += Bf16(w3[i]) * xv;
        }
        sums = Vector128.Create(s0, s1, s2, s3);
    }

    /// <summary>
    /// Four weight rows against two input rows (batches and prefill): each weight vector is loaded and split once for
    /// both, which halves the integer work per product of the one-row loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Bf16Dot4x2(ushort* w0, int n, float* xs, float* zs, out Vector128<float> sumsX, out Vector128<float> sumsZ)
    {
        ushort* w1 = w0 + n, w2 = w1 + n, w3 = w2 + n;
        var high = Vector256.Create(0xFFFF0000u);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        var i = 0;
        var ahead = (byte*)w0 + Bf16PrefetchBytes;
        for (; i + 16 <= n; i += 16)
        {
            Sse.Prefetch0(ahead + 8 * i);
            Sse.Prefetch0(ahead + 8 * i + 64);
            var xe = Vector256.Load(xs + i);
            var xo = Vector256.Load(xs + i + 8);
            var ze = Vector256.Load(zs + i);
            var zo = Vector256.Load(zs + i + 8);
            var v = Vector256.Load((uint*)(w0 + i));
            var even = (v << 16).AsSingle();
            var odd = (v & high).AsSingle();
            a0 = MulAdd(odd, xo, MulAdd(even, xe, a0));
            c0 = MulAdd(odd, zo, MulAdd(even, ze, c0));
            v = Vector256.Load((uint*)(w1 + i));
            even = (v << 16).AsSingle();
            odd = (v & high).AsSingle();
            a1 = MulAdd(odd, xo, MulAdd(even, xe, a1));
            c1 = MulAdd(odd, zo, MulAdd(even, ze, c1));
            v = Vector256.Load((uint*)(w2 + i));
            even = (v << 16).AsSingle();
            odd = (v & high).AsSingle();
            a2 = MulAdd(odd, xo, MulAdd(even, xe, a2));
            c2 = MulAdd(odd, zo, MulAdd(even, ze, c2));
            v = Vector256.Load((uint*)(w3 + i));
            even = (v << 16).AsSingle();
            odd = (v & high).AsSingle();
            a3 = MulAdd(odd, xo, MulAdd(even, xe, a3));
            c3 = MulAdd(odd, zo, MulAdd(even, ze, c3));
        }
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        float t0 = Vector256.Sum(c0), t1 = Vector256.Sum(c1), t2 = Vector256.Sum(c2), t3 = Vector256.Sum(c3);
        for (; i < n; i++)
        {
            float xv = xs[i], zv = zs[i];
            float u0 = Bf16(w0[i]), u1 = Bf16(w1[i]), u2 = Bf16(w2[i]), u3 = Bf16(w3[i]);
            s0 += u0 * xv; t0 += u0 * zv;
            s1 += u1 * xv; t1 += u1 * zv;
            s2 += u2 * xv; t2 += u2 * zv;
            s3 += u3 * xv; t3 += u3 * zv;
        }
        sumsX = Vector128.Create(s0, s1, s2, s3);
        sumsZ = Vector128.Create(t0, t1, t2, t3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Bf16Dot1(ushort* w, float* xs, int n)
    {
        var high = Vector256.Create(0xFFFF0000u);
        Vector256<float> a = default, c = default;
        var i = 0;
        for (; i + 16 <= n; i += 16)
        {
            var v = Vector256.Load((uint*)(w + i));
            a = MulAdd((v << 16).AsSingle(), Vector256.Load(xs + i), a);
            c = MulAdd((v & high).AsSingle(), Vector256.Load(xs + i + 8), c);
        }
        var s = Vector256.Sum(a + c);
        for (; i < n; i++) s += Bf16(w[i]) * xs[i];
        return s;
    }
}
