using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// The decode product on int8 weights with one fp32 scale per block of 32 weights of a row (<see cref="Int8Blocks"/>):
/// a quarter of fp32's bytes. Each block's eight-wide pieces are sign-extended and converted in registers, summed
/// against x, and the block sum is added scaled: x stays fp32 (llama.cpp also rounds x to int8; we do not).
/// </summary>
public static unsafe partial class MatVec
{
    /// <summary>Whether this machine runs the int8 kernel (it needs AVX2's sign-extending loads).</summary>
    public static bool IsInt8Accelerated => Avx2.IsSupported;

    /// <summary>
    /// y = x·Wᵀ + b with W [outFeatures, inFeatures] int8 and <paramref name="scales"/> [outFeatures, inFeatures / 32];
    /// <paramref name="inFeatures"/> must be a multiple of 32.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyInt8(float* x, sbyte* w, float* scales, float* b, float* y, int rows, int inFeatures, int outFeatures, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, MaxRows);
        if (inFeatures % Int8Blocks.BlockSize != 0) throw new ArgumentException($"{inFeatures} input features are not whole blocks of {Int8Blocks.BlockSize}.");
        var workers = Workers(threads, rows, inFeatures, outFeatures);
        if (workers <= 1)
        {
            RangeInt8(x, w, scales, b, y, rows, inFeatures, outFeatures, 0, outFeatures);
            return;
        }
        WorkerPool.Run(new Job(WeightKind.Int8, x, w, scales, b, y, rows, inFeatures, outFeatures, workers), workers);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RangeInt8(float* x, sbyte* w, float* scales, float* b, float* y, int rows, int n, int outFeatures, int o0, int o1)
    {
        var blocks = n / Int8Blocks.BlockSize;
        var o = o0;
        for (; o + 4 <= o1; o += 4)
        {
            var w0 = w + (long)o * n;
            var s0 = scales + (long)o * blocks;
            for (var r = 0; r < rows; r++)
            {
                Int8Dot4(w0, s0, n, x + (long)r * n, out var sums);
                Store4(y + (long)r * outFeatures + o, sums, b, o);
            }
        }
        for (; o < o1; o++)
        for (var r = 0; r < rows; r++)
            y[(long)r * outFeatures + o] = Int8Dot1(w + (long)o * n, scales + (long)o * blocks, n, x + (long)r * n) + (b is null ? 0f : b[o]);
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Block(sbyte* w, Vector256<float> x0, Vector256<float> x1, Vector256<float> x2, Vector256<float> x3)
    {
        var t = Widen(w) * x0;
        t = MulAdd(Widen(w + 8), x1, t);
        t = MulAdd(Widen(w + 16), x2, t);
        return MulAdd(Widen(w + 24), x3, t);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Int8Dot4(sbyte* w0, float* s0, int n, float* x, out Vector128<float> sums)
    {
        sbyte* w1 = w0 + n, w2 = w1 + n, w3 = w2 + n;
        var blocks = n / Int8Blocks.BlockSize;
        float* s1 = s0 + blocks, s2 = s1 + blocks, s3 = s2 + blocks;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int g = 0, i = 0; g < blocks; g++, i += Int8Blocks.BlockSize)
        {
            var x0 = Vector256.Load(x + i);
            var x1 = Vector256.Load(x + i + 8);
            var x2 = Vector256.Load(x + i + 16);
            var x3 = Vector256.Load(x + i + 24);
            a0 = MulAdd(Vector256.Create(s0[g]), Block(w0 + i, x0, x1, x2, x3), a0);
            a1 = MulAdd(Vector256.Create(s1[g]), Block(w1 + i, x0, x1, x2, x3), a1);
            a2 = MulAdd(Vector256.Create(s2[g]), Block(w2 + i, x0, x1, x2, x3), a2);
            a3 = MulAdd(Vector256.Create(s3[g]), Block(w3 + i, x0, x1, x2, x3), a3);
        }
        sums = Vector128.Create(Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Int8Dot1(sbyte* w, float* s, int n, float* x)
    {
        Vector256<float> a = default;
        for (int g = 0, i = 0; i < n; g++, i += Int8Blocks.BlockSize)
            a = MulAdd(Vector256.Create(s[g]), Block(w + i, Vector256.Load(x + i), Vector256.Load(x + i + 8), Vector256.Load(x + i + 16), Vector256.Load(x + i + 24)), a);
        return Vector256.Sum(a);
    }
}
