using HuatuoAspire.Model.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>
/// The tiled product for many rows (prefill) computes what <c>F.linear</c> computes, with its AVX-512 tiles and with its
/// AVX2 tiles, on shapes whose rows, weight rows and shared dimension all leave tails (and a shared dimension in
/// several blocks), on fp32, bf16 and int8 weights, with and without bias and workers.
/// </summary>
public sealed class MatMulTests
{
    public static TheoryData<int, int, int, bool, int, bool> Shapes()
    {
        var data = new TheoryData<int, int, int, bool, int, bool>();
        foreach (var avx512 in new[] { true, false })
        {
            data.Add(17, 32, 7, true, 1, avx512);     // one more row than MatVec takes; fewer weight rows than a tile
            data.Add(64, 768, 256, false, 2, avx512); // the base preset's k_proj in a 64-token prefill
            data.Add(23, 100, 61, true, 2, avx512);   // rows, weight rows and the shared dimension all off the tile sizes
            data.Add(40, 1056, 1031, false, 3, avx512);
            data.Add(33, 2048, 130, true, 2, avx512);   // the shared dimension in two blocks
            data.Add(19, 1100, 37, true, 2, avx512);    // two blocks and a tail past the lanes
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void TheTiledProductEqualsFLinear(int rows, int inFeatures, int outFeatures, bool bias, int threads, bool avx512)
    {
        using var scope = NewDisposeScope();
        using var tiles = KernelAssert.Avx512(avx512);
        using var threadCount = KernelAssert.Threads(threads);
        manual_seed(rows * 1000 + inFeatures);
        var w = randn(outFeatures, inFeatures);
        var b = bias ? randn(outFeatures) : null;
        var x = randn(1, rows, inFeatures);
        using var _ = no_grad();
        var actual = Projection.Linear(x, w, b, null, out var used);
        Assert.True(used);
        KernelAssert.Close(F.linear(x, w, b), actual);

        // bf16 weights: the same product on the weights as they widen.
        var w16 = w.to(ScalarType.BFloat16);
        KernelAssert.Close(F.linear(x, w16.to(ScalarType.Float32), b), Projection.Linear(x, w16, b, null, out used));
        Assert.True(used);
    }

    [Theory]
    [InlineData(17, 32, 7, true, 1, true)]
    [InlineData(64, 768, 256, false, 2, true)]
    [InlineData(40, 1056, 1031, true, 3, true)]
    [InlineData(17, 32, 7, true, 1, false)]
    [InlineData(40, 1056, 1031, false, 2, false)]
    public void TheInt8TiledProductMultipliesQ8_0RoundedInputsAsDecodeDoes(int rows, int inFeatures, int outFeatures, bool bias, int threads, bool avx512)
    {
        using var scope = NewDisposeScope();
        using var tiles = KernelAssert.Avx512(avx512);
        using var threadCount = KernelAssert.Threads(threads);
        manual_seed(rows * 100 + inFeatures);
        var weights = randn(outFeatures, inFeatures);
        var (q, s) = LowPrecisionKernelTests.Quantized(weights);
        var b = bias ? randn(outFeatures) : null;
        var x = randn(rows, inFeatures);
        using var _ = no_grad();
        var many = Projection.Linear(x, q, b, s, out var used);
        Assert.True(used);
        KernelAssert.Close(F.linear(LowPrecisionKernelTests.RoundedToQ8_0(x), Projection.Dequantize(q, s), b), many);
        // Row by row (the decode kernel, integer dot products) the same numbers come out, to float rounding.
        var byRow = cat(Enumerable.Range(0, rows).Select(r => Projection.Linear(x.narrow(0, r, 1), q, b, s)).ToList(), 0);
        KernelAssert.Close(byRow, many);
    }

    [Fact]
    public void TheAvx2TilesCanBeChosenAndTheAvx512OnesOnlyWhereTheHardwareHasThem()
    {
        var before = MatMul.UseAvx512;
        try
        {
            MatMul.UseAvx512 = false;
            Assert.False(MatMul.UseAvx512);
            MatMul.UseAvx512 = true;
            Assert.Equal(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512F.IsSupported, MatMul.UseAvx512);
        }
        finally
        {
            MatMul.UseAvx512 = before;
        }
    }
}
