using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// y = x·Wᵀ + b for a few rows of x (decode: one row per sequence), fp32, on the tensors' own memory. A decode step
/// is almost only this product and it is bound by reading W once; libtorch's single-row path reaches about 60 % of
/// the bandwidth llama.cpp gets, this one streams each weight row once for all input rows (batch 2–8 reads the
/// weights once) with four output rows in flight, and splits the output rows across a fixed number of workers.
/// </summary>
public static unsafe partial class MatVec
{
    /// <summary>The most input rows one pass handles; more rows go to the general matrix product.</summary>
    public const int MaxRows = 16;

    /// <summary>Whether this machine runs the vector kernel (256-bit vectors); elsewhere callers use the library product.</summary>
    public static bool IsAccelerated => Vector256.IsHardwareAccelerated;

    /// <summary>
    /// Computes <paramref name="rows"/> rows of y [rows, outFeatures] from x [rows, inFeatures] and W [outFeatures,
    /// inFeatures] (row-major, contiguous), adding <paramref name="b"/> when it is not null, on
    /// <paramref name="threads"/> workers (the caller is one of them).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(float* x, float* w, float* b, float* y, int rows, int inFeatures, int outFeatures, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, MaxRows);
        var workers = Workers(threads, rows, inFeatures, outFeatures);
        if (workers <= 1)
        {
            Range(x, w, b, y, rows, inFeatures, outFeatures, 0, outFeatures);
            return;
        }
        var job = new Job(WeightKind.F32, x, w, null, b, y, rows, inFeatures, outFeatures, workers);
        WorkerPool.Run(job, workers);
    }

    /// <summary>The element type of the weight matrix a <see cref="Job"/> reads.</summary>
    internal enum WeightKind { F32, BFloat16, Int8 }

    /// <summary>
    /// A buffer of the calling thread (<paramref name="buffer"/> and <paramref name="capacity"/> are its thread-static
    /// fields) holding at least <paramref name="count"/> elements, 64-byte aligned, grown and never shrunk: the kernels
    /// prepare x in it once per product, and the workers read it while the caller waits for them.
    /// </summary>
    internal static T* ThreadBuffer<T>(ref T* buffer, ref long capacity, long count) where T : unmanaged
    {
        if (capacity < count)
        {
            if (buffer is not null) NativeMemory.AlignedFree(buffer);
            buffer = (T*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(T)), 64);
            capacity = count;
        }
        return buffer;
    }

    /// <summary>Below ~64k multiply-adds a second worker costs more to wake than it saves.</summary>
    internal static int Workers(int threads, int rows, int inFeatures, int outFeatures) =>
        Math.Max(1, Math.Min(threads, (int)Math.Min(outFeatures / 64, (long)rows * inFeatures * outFeatures / 65536)));

    /// <summary>
    /// One product split into <see cref="Parts"/> contiguous blocks of output rows (multiples of 16 rows). x is the
    /// input as given, except for bf16 weights, where it is the even/odd split <see cref="SplitEvenOdd"/> makes, and
    /// int8 weights, where it is x's int8 blocks with their scales in <paramref name="xScales"/>.
    /// </summary>
    internal readonly struct Job(WeightKind kind, void* x, void* w, float* scales, float* b, float* y, int rows, int inFeatures, int outFeatures, int parts,
        float* xScales = null) : IPartedJob
    {
        public int Parts => parts;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void RunPart(int part)
        {
            var per = (outFeatures + parts - 1) / parts;
            per = (per + 15) & ~15;
            var start = Math.Min(outFeatures, part * per);
            var end = Math.Min(outFeatures, start + per);
            if (start >= end) return;
            switch (kind)
            {
                case WeightKind.F32: Range((float*)x, (float*)w, b, y, rows, inFeatures, outFeatures, start, end); break;
                case WeightKind.BFloat16: RangeBf16((float*)x, (ushort*)w, b, y, rows, inFeatures, outFeatures, start, end); break;
                default: RangeInt8((sbyte*)x, xScales, (sbyte*)w, scales, b, y, rows, inFeatures, outFeatures, start, end); break;
            }
        }
    }

    /// <summary>Output rows [<paramref name="o0"/>, <paramref name="o1"/>) of the product, on the calling thread.</summary>
    // AggressiveOptimization: the loops must never run as tier-0/OSR code, which measured ~5x slower on cached weights.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Range(float* x, float* w, float* b, float* y, int rows, int n, int outFeatures, int o0, int o1)
    {
        var o = o0;
        for (; o + 4 <= o1; o += 4)
        {
            var w0 = w + (long)o * n;
            var r = 0;
            for (; r + 2 <= rows; r += 2)
            {
                Dot4x2(w0, n, x + (long)r * n, x + (long)(r + 1) * n, out var a, out var c);
                Store4(y + (long)r * outFeatures + o, a, b, o);
                Store4(y + (long)(r + 1) * outFeatures + o, c, b, o);
            }
            if (r < rows)
            {
                Dot4x1(w0, n, x + (long)r * n, out var a);
                Store4(y + (long)r * outFeatures + o, a, b, o);
            }
        }
        for (; o < o1; o++)
        {
            var wr = w + (long)o * n;
            for (var r = 0; r < rows; r++)
            {
                y[(long)r * outFeatures + o] = Dot1(wr, x + (long)r * n, n) + (b is null ? 0f : b[o]);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Store4(float* target, Vector128<float> sums, float* b, int o)
    {
        if (b is not null) sums += Vector128.Load(b + o);
        sums.Store(target);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    /// <summary>Four weight rows against one input row: four independent accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4x1(float* w0, int n, float* x, out Vector128<float> sums)
    {
        float* w1 = w0 + n, w2 = w1 + n, w3 = w2 + n;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        var i = 0;
        // Two vectors per row per iteration: eight independent chains keep the loads flowing.
        for (; i + 16 <= n; i += 16)
        {
            var xv = Vector256.Load(x + i);
            var xw = Vector256.Load(x + i + 8);
            a0 = MulAdd(Vector256.Load(w0 + i), xv, a0);
            b0 = MulAdd(Vector256.Load(w0 + i + 8), xw, b0);
            a1 = MulAdd(Vector256.Load(w1 + i), xv, a1);
            b1 = MulAdd(Vector256.Load(w1 + i + 8), xw, b1);
            a2 = MulAdd(Vector256.Load(w2 + i), xv, a2);
            b2 = MulAdd(Vector256.Load(w2 + i + 8), xw, b2);
            a3 = MulAdd(Vector256.Load(w3 + i), xv, a3);
            b3 = MulAdd(Vector256.Load(w3 + i + 8), xw, b3);
        }
        for (; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(x + i);
            a0 = MulAdd(Vector256.Load(w0 + i), xv, a0);
            a1 = MulAdd(Vector256.Load(w1 + i), xv, a1);
            a2 = MulAdd(Vector256.Load(w2 + i), xv, a2);
            a3 = MulAdd(Vector256.Load(w3 + i), xv, a3);
        }
        a0 += b0;
        a1 += b1;
        a2 += b2;
        a3 += b3;
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        for (; i < n; i++)
        {
            var xs = x[i];
            s0 += w0[i] * xs;
            s1 += w1[i] * xs;
            s2 += w2[i] * xs;
            s3 += w3[i] * xs;
        }
        sums = Vector128.Create(s0, s1, s2, s3);
    }

    /// <summary>Four weight rows against two input rows: each weight vector is loaded once for both.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4x2(float* w0, int n, float* x, float* z, out Vector128<float> sumsX, out Vector128<float> sumsZ)
    {
        float* w1 = w0 + n, w2 = w1 + n, w3 = w2 + n;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        var i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(x + i);
            var zv = Vector256.Load(z + i);
            var v0 = Vector256.Load(w0 + i);
            a0 = MulAdd(v0, xv, a0);
            c0 = MulAdd(v0, zv, c0);
            var v1 = Vector256.Load(w1 + i);
            a1 = MulAdd(v1, xv, a1);
            c1 = MulAdd(v1, zv, c1);
            var v2 = Vector256.Load(w2 + i);
            a2 = MulAdd(v2, xv, a2);
            c2 = MulAdd(v2, zv, c2);
            var v3 = Vector256.Load(w3 + i);
            a3 = MulAdd(v3, xv, a3);
            c3 = MulAdd(v3, zv, c3);
        }
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        float t0 = Vector256.Sum(c0), t1 = Vector256.Sum(c1), t2 = Vector256.Sum(c2), t3 = Vector256.Sum(c3);
        for (; i < n; i++)
        {
            float xs = x[i], zs = z[i];
            s0 += w0[i] * xs; t0 += w0[i] * zs;
            s1 += w1[i] * xs; t1 += w1[i] * zs;
            s2 += w2[i] * xs; t2 += w2[i] * zs;
            s3 += w3[i] * xs; t3 += w3[i] * zs;
        }
        sumsX = Vector128.Create(s0, s1, s2, s3);
        sumsZ = Vector128.Create(t0, t1, t2, t3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot1(float* w, float* x, int n)
    {
        Vector256<float> a = default;
        var i = 0;
        for (; i + 8 <= n; i += 8) a = MulAdd(Vector256.Load(w + i), Vector256.Load(x + i), a);
        var s = Vector256.Sum(a);
        for (; i < n; i++) s += w[i] * x[i];
        return s;
    }
}
