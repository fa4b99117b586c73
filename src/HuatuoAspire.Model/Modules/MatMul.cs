using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// y = x·Wᵀ + b for many rows of x (a prompt's prefill, scoring): unlike <see cref="MatVec"/>'s few rows this is bound
/// by arithmetic, not by reading W. The product is cut into tiles of a few input rows × a few weight rows; a tile
/// keeps one vector accumulator per (input row, weight row) pair along the shared dimension (AVX-512: 4 × 6 of 16
/// lanes, 24 of the 32 registers; else AVX2: 2 × 4 of 8 lanes), so every vector it loads feeds four to six FMAs, and
/// sums the accumulators four at a time at the end. Workers take contiguous runs of weight tiles; the shared dimension
/// goes in blocks of about 1024, so a weight tile's block stays in L1 while every input tile passes it and a block of
/// x stays in L2 while every weight tile passes it. bf16 and int8 weights are widened to fp32 one tile block at a time
/// and reused for all rows of x, so the widening costs little beside the product; for int8, x is first rounded to Q8_0
/// blocks as <see cref="MatVec.MultiplyInt8"/> does, so a prompt and a decode step compute the same product.
/// </summary>
public static unsafe class MatMul
{
    /// <summary>About how much of the shared dimension one pass of the tiles covers (see <c>RunTiles</c>).</summary>
    private const int KBlock = 1024;

    /// <summary>Whether this machine runs the tiled product (256-bit vectors and FMA at least).</summary>
    public static bool IsAccelerated => Vector256.IsHardwareAccelerated && Fma.IsSupported;

    /// <summary>
    /// Whether the AVX-512 tiles run (default: where the hardware has them; <c>HUATUO_MATMUL_AVX512=0</c> or setting
    /// this false runs the AVX2 tiles, so both are tested and measured on one machine).
    /// </summary>
    public static bool UseAvx512
    {
        get => _useAvx512;
        set => _useAvx512 = value && Avx512Supported;
    }

    private static readonly bool Avx512Supported = Vector512.IsHardwareAccelerated && Avx512F.IsSupported;
    private static bool _useAvx512 = Avx512Supported && Environment.GetEnvironmentVariable("HUATUO_MATMUL_AVX512") != "0";

    [ThreadStatic] private static float* t_rows;
    [ThreadStatic] private static long t_rowsLength;
    [ThreadStatic] private static float* t_x;
    [ThreadStatic] private static long t_xLength;

    /// <summary>y [rows, outFeatures] = x [rows, inFeatures]·Wᵀ + b with W [outFeatures, inFeatures] fp32.</summary>
    public static void Multiply(float* x, float* w, float* b, float* y, int rows, int inFeatures, int outFeatures, int threads) =>
        Run(MatVec.WeightKind.F32, x, w, null, b, y, rows, inFeatures, outFeatures, threads);

    /// <summary>As <see cref="Multiply"/> with W bf16 (raw 16-bit patterns).</summary>
    public static void MultiplyBFloat16(float* x, ushort* w, float* b, float* y, int rows, int inFeatures, int outFeatures, int threads) =>
        Run(MatVec.WeightKind.BFloat16, x, w, null, b, y, rows, inFeatures, outFeatures, threads);

    /// <summary>
    /// As <see cref="Multiply"/> with W int8 and <paramref name="scales"/> [outFeatures, inFeatures / 32]; x is rounded to
    /// Q8_0 blocks first. <paramref name="inFeatures"/> must be a multiple of 32.
    /// </summary>
    public static void MultiplyInt8(float* x, sbyte* w, float* scales, float* b, float* y, int rows, int inFeatures, int outFeatures, int threads)
    {
        if (inFeatures % Int8Blocks.BlockSize != 0) throw new ArgumentException($"{inFeatures} input features are not whole blocks of {Int8Blocks.BlockSize}.");
        // x as Q8_0 blocks, then those blocks back as fp32 (q·d is exact in fp32): the product of two such values is
        // llama.cpp's, only summed in a different order.
        var length = (long)rows * inFeatures;
        MatVec.QuantizeActivations(x, rows, inFeatures, out var quants, out var quantScales);
        var rounded = MatVec.ThreadBuffer(ref t_x, ref t_xLength, length);
        MatVec.WidenInt8(quants, quantScales, rounded, length);
        Run(MatVec.WeightKind.Int8, rounded, w, scales, b, y, rows, inFeatures, outFeatures, threads);
    }

    /// <summary>The input rows and weight rows of one tile, AVX-512's or AVX2's (<see cref="TileSums"/>).</summary>
    internal static (int Rows, int Columns) TileShape(bool avx512) => avx512 ? (Tile512.Rows, Tile512.Columns) : (Tile256.Rows, Tile256.Columns);

    /// <summary>
    /// One tile of dot products, sums[i·Columns + j] = x_i·w_j over <paramref name="n"/> elements, for the
    /// <see cref="TileShape"/>'s row pointers in <paramref name="x"/> and <paramref name="w"/> (attention's query·key
    /// scores use it); any <paramref name="n"/>, its tail past the vector lanes added one by one.
    /// </summary>
    internal static void TileSums(bool avx512, float** x, float** w, int n, float* sums)
    {
        var (mr, nr, lanes) = avx512 ? (Tile512.Rows, Tile512.Columns, Tile512.Lanes) : (Tile256.Rows, Tile256.Columns, Tile256.Lanes);
        var vectorEnd = n / lanes * lanes;
        if (avx512) Tile512.Sums(x, w, vectorEnd, sums);
        else Tile256.Sums(x, w, vectorEnd, sums);
        if (vectorEnd == n) return;
        for (var i = 0; i < mr; i++)
        for (var j = 0; j < nr; j++)
        for (var k = vectorEnd; k < n; k++) sums[i * nr + j] += x[i][k] * w[j][k];
    }

    private static void Run(MatVec.WeightKind kind, float* x, void* w, float* scales, float* b, float* y, int rows, int inFeatures, int outFeatures, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inFeatures, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outFeatures, 1);
        if (!IsAccelerated) throw new PlatformNotSupportedException("The tiled product needs 256-bit vectors and FMA.");
        var avx512 = UseAvx512;
        var tiles = (outFeatures + (avx512 ? Tile512.Columns : Tile256.Columns) - 1) / (avx512 ? Tile512.Columns : Tile256.Columns);
        var parts = Math.Max(1, Math.Min(threads, Math.Min(tiles, (int)Math.Min(int.MaxValue, (long)rows * inFeatures * outFeatures / 65536))));
        var job = new Job(kind, x, w, scales, b, y, rows, inFeatures, outFeatures, avx512, tiles, parts);
        if (parts == 1) job.RunPart(0);
        else WorkerPool.Run(job, parts);
    }

    /// <summary>The product split into <see cref="Parts"/> contiguous runs of weight tiles.</summary>
    private readonly struct Job(MatVec.WeightKind kind, float* x, void* w, float* scales, float* b, float* y, int rows, int inFeatures, int outFeatures,
        bool avx512, int tiles, int parts) : IPartedJob
    {
        public void RunPart(int part)
        {
            var start = (int)((long)tiles * part / parts);
            var end = (int)((long)tiles * (part + 1) / parts);
            if (avx512) RunTiles<Tile512>(start, end);
            else RunTiles<Tile256>(start, end);
        }

        /// <summary>Weight tiles [<paramref name="start"/>, <paramref name="end"/>) against every input tile, on this thread.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void RunTiles<TTile>(int start, int end) where TTile : struct, ITile
        {
            var (mr, nr, n) = (TTile.Rows, TTile.Columns, inFeatures);
            var xs = stackalloc float*[mr];
            var ws = stackalloc float*[nr];
            var sums = stackalloc float[mr * nr];
            // The part of the shared dimension the vector loop covers; the rest (n not a multiple of the lanes) is added below.
            var vectorEnd = n / TTile.Lanes * TTile.Lanes;
            // The shared dimension in blocks of about KBlock (multiples of 32, whole int8 blocks): one block of a weight
            // tile stays in L1 while every input tile passes it, and one block of all of x (64 rows of 1024: 256 KiB)
            // stays in L2 while every weight tile passes it; each block's sums are added to y.
            var blocks = Math.Max(1, (vectorEnd + KBlock - 1) / KBlock);
            var step = Math.Max(32, (vectorEnd / blocks + 31) / 32 * 32);
            // A widened row's block, with room for the tail past the vector lanes in the last one.
            var stride = step + 32;
            var widened = kind == MatVec.WeightKind.F32 ? null : MatVec.ThreadBuffer(ref t_rows, ref t_rowsLength, (long)nr * stride);
            for (var k0 = 0; ; k0 += step)
            {
                var length = Math.Min(step, vectorEnd - k0);
                var last = k0 + length >= vectorEnd;
                // bf16/int8: this block of the tile's rows widened (the last block up to the row's end, tail included).
                var widenedLength = last ? n - k0 : length;
                for (var tile = start; tile < end; tile++)
                {
                    var o = tile * nr;
                    var columns = Math.Min(nr, outFeatures - o);
                    for (var j = 0; j < nr; j++)
                    {
                        // Past the last weight row a tile repeats it; those sums are not stored.
                        var row = o + Math.Min(j, columns - 1);
                        if (kind == MatVec.WeightKind.F32) ws[j] = (float*)w + (long)row * n + k0;
                        else
                        {
                            ws[j] = widened + (long)Math.Min(j, columns - 1) * stride;
                            if (j < columns) Widen(row, k0, widenedLength, ws[j]);
                        }
                    }
                    for (var m = 0; m < rows; m += mr)
                    {
                        var valid = Math.Min(mr, rows - m);
                        for (var i = 0; i < mr; i++) xs[i] = x + (long)(m + Math.Min(i, valid - 1)) * n + k0;
                        TTile.Sums(xs, ws, length, sums);
                        for (var i = 0; i < valid; i++)
                        {
                            var target = y + (long)(m + i) * outFeatures + o;
                            for (var j = 0; j < columns; j++)
                            {
                                var s = sums[i * nr + j];
                                if (k0 > 0) s += target[j];
                                if (last)
                                {
                                    for (var k = length; k < n - k0; k++) s += xs[i][k] * ws[j][k];
                                    if (b is not null) s += b[o + j];
                                }
                                target[j] = s;
                            }
                        }
                    }
                }
                if (last) break;
            }
        }

        /// <summary>
        /// Elements [<paramref name="from"/>, <paramref name="from"/> + <paramref name="count"/>) of weight row
        /// <paramref name="row"/> as fp32 into <paramref name="target"/> (<paramref name="from"/> a whole number of int8 blocks in).
        /// </summary>
        private void Widen(int row, int from, int count, float* target)
        {
            var n = inFeatures;
            if (kind == MatVec.WeightKind.BFloat16) MatVec.WidenBFloat16((ushort*)w + (long)row * n + from, target, count);
            else MatVec.WidenInt8((sbyte*)w + (long)row * n + from, scales + ((long)row * n + from) / Int8Blocks.BlockSize, target, count);
        }
    }

    /// <summary>One tile shape: its sums of <see cref="Rows"/> input rows × <see cref="Columns"/> weight rows.</summary>
    private interface ITile
    {
        static abstract int Rows { get; }
        static abstract int Columns { get; }
        static abstract int Lanes { get; }

        /// <summary>
        /// sums[i·Columns + j] = Σ x_i[k]·w_j[k] over k &lt; <paramref name="n"/> (a multiple of <see cref="Lanes"/>).
        /// </summary>
        static abstract void Sums(float** x, float** w, int n, float* sums);
    }

    /// <summary>4 input rows × 6 weight rows of 16-lane vectors: 24 accumulators, 4 + 6 loads per 24 FMAs.</summary>
    private readonly struct Tile512 : ITile
    {
        public static int Rows => 4;
        public static int Columns => 6;
        public static int Lanes => 16;

        // NoInlining: the 24 accumulators get the registers to themselves.
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        public static void Sums(float** x, float** w, int n, float* sums)
        {
            float* x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
            float* w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5];
            Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default, c04 = default, c05 = default;
            Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
            Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default, c24 = default, c25 = default;
            Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default, c34 = default, c35 = default;
            for (var k = 0; k < n; k += 16)
            {
                var a0 = Vector512.Load(x0 + k);
                var a1 = Vector512.Load(x1 + k);
                var a2 = Vector512.Load(x2 + k);
                var a3 = Vector512.Load(x3 + k);
                var v = Vector512.Load(w0 + k);
                c00 = Avx512F.FusedMultiplyAdd(a0, v, c00);
                c10 = Avx512F.FusedMultiplyAdd(a1, v, c10);
                c20 = Avx512F.FusedMultiplyAdd(a2, v, c20);
                c30 = Avx512F.FusedMultiplyAdd(a3, v, c30);
                v = Vector512.Load(w1 + k);
                c01 = Avx512F.FusedMultiplyAdd(a0, v, c01);
                c11 = Avx512F.FusedMultiplyAdd(a1, v, c11);
                c21 = Avx512F.FusedMultiplyAdd(a2, v, c21);
                c31 = Avx512F.FusedMultiplyAdd(a3, v, c31);
                v = Vector512.Load(w2 + k);
                c02 = Avx512F.FusedMultiplyAdd(a0, v, c02);
                c12 = Avx512F.FusedMultiplyAdd(a1, v, c12);
                c22 = Avx512F.FusedMultiplyAdd(a2, v, c22);
                c32 = Avx512F.FusedMultiplyAdd(a3, v, c32);
                v = Vector512.Load(w3 + k);
                c03 = Avx512F.FusedMultiplyAdd(a0, v, c03);
                c13 = Avx512F.FusedMultiplyAdd(a1, v, c13);
                c23 = Avx512F.FusedMultiplyAdd(a2, v, c23);
                c33 = Avx512F.FusedMultiplyAdd(a3, v, c33);
                v = Vector512.Load(w4 + k);
                c04 = Avx512F.FusedMultiplyAdd(a0, v, c04);
                c14 = Avx512F.FusedMultiplyAdd(a1, v, c14);
                c24 = Avx512F.FusedMultiplyAdd(a2, v, c24);
                c34 = Avx512F.FusedMultiplyAdd(a3, v, c34);
                v = Vector512.Load(w5 + k);
                c05 = Avx512F.FusedMultiplyAdd(a0, v, c05);
                c15 = Avx512F.FusedMultiplyAdd(a1, v, c15);
                c25 = Avx512F.FusedMultiplyAdd(a2, v, c25);
                c35 = Avx512F.FusedMultiplyAdd(a3, v, c35);
            }
            // Row i's first four sums are contiguous; the last two of rows 0-1 and of rows 2-3 go out in pairs.
            Sum4(c00, c01, c02, c03).Store(sums);
            Sum4(c10, c11, c12, c13).Store(sums + 6);
            Sum4(c20, c21, c22, c23).Store(sums + 12);
            Sum4(c30, c31, c32, c33).Store(sums + 18);
            var tail = Sum4(c04, c05, c14, c15);
            (sums[4], sums[5], sums[10], sums[11]) = (tail[0], tail[1], tail[2], tail[3]);
            tail = Sum4(c24, c25, c34, c35);
            (sums[16], sums[17], sums[22], sums[23]) = (tail[0], tail[1], tail[2], tail[3]);
        }

        /// <summary>
        /// The lane sums of four vectors, as one 128-bit vector: halves, then quarters, of the four are added pairwise
        /// across vectors (so each add serves two or four of them), then the last four lanes of each within its quarter;
        /// ~14 instructions for four sums where <see cref="Vector512.Sum"/> takes ~20 for one.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
        {
            // [a0+a2, a1+a3, b0+b2, b1+b3] in 128-bit quarters, and the same for c and d.
            var ab = Avx512F.Shuffle4x128(a, b, 0b01_00_01_00) + Avx512F.Shuffle4x128(a, b, 0b11_10_11_10);
            var cd = Avx512F.Shuffle4x128(c, d, 0b01_00_01_00) + Avx512F.Shuffle4x128(c, d, 0b11_10_11_10);
            // Quarter k: four partial sums of the k-th vector.
            var s = Avx512F.Shuffle4x128(ab, cd, 0b10_00_10_00) + Avx512F.Shuffle4x128(ab, cd, 0b11_01_11_01);
            s += Vector512.Shuffle(s, Vector512.Create(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
            s += Vector512.Shuffle(s, Vector512.Create(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
            return Vector512.Shuffle(s, Vector512.Create(0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12)).GetLower().GetLower();
        }
    }

    /// <summary>2 input rows × 4 weight rows of 8-lane vectors: 8 accumulators, within AVX2's 16 registers.</summary>
    private readonly struct Tile256 : ITile
    {
        public static int Rows => 2;
        public static int Columns => 4;
        public static int Lanes => 8;

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        public static void Sums(float** x, float** w, int n, float* sums)
        {
            float* x0 = x[0], x1 = x[1];
            float* w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
            Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
            Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
            for (var k = 0; k < n; k += 8)
            {
                var a0 = Vector256.Load(x0 + k);
                var a1 = Vector256.Load(x1 + k);
                var v = Vector256.Load(w0 + k);
                c00 = Fma.MultiplyAdd(a0, v, c00);
                c10 = Fma.MultiplyAdd(a1, v, c10);
                v = Vector256.Load(w1 + k);
                c01 = Fma.MultiplyAdd(a0, v, c01);
                c11 = Fma.MultiplyAdd(a1, v, c11);
                v = Vector256.Load(w2 + k);
                c02 = Fma.MultiplyAdd(a0, v, c02);
                c12 = Fma.MultiplyAdd(a1, v, c12);
                v = Vector256.Load(w3 + k);
                c03 = Fma.MultiplyAdd(a0, v, c03);
                c13 = Fma.MultiplyAdd(a1, v, c13);
            }
            sums[0] = Vector256.Sum(c00);
            sums[1] = Vector256.Sum(c01);
            sums[2] = Vector256.Sum(c02);
            sums[3] = Vector256.Sum(c03);
            sums[4] = Vector256.Sum(c10);
            sums[5] = Vector256.Sum(c11);
            sums[6] = Vector256.Sum(c12);
            sums[7] = Vector256.Sum(c13);
        }
    }
}
