using HuatuoAspire.Model.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>
/// The bf16 and int8 kernels compute what <c>F.linear</c> computes on the same weights widened to fp32 (the int8 kernel
/// on its inputs rounded to Q8_0 blocks, as llama.cpp's), on one to sixteen rows and on many (the tiled product), with tails,
/// biases and workers; and int8 blocks follow llama.cpp's Q8_0 rule.
/// </summary>
public sealed class LowPrecisionKernelTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, 37, 13, true, 1)]
    [InlineData(2, 64, 61, false, 2)]
    [InlineData(5, 257, 129, true, 2)]
    [InlineData(8, 515, 1031, false, 3)]
    [InlineData(16, 96, 1031, true, 2)]
    [InlineData(1, 2048, 4099, false, 2)]
    public void TheBf16KernelEqualsFLinearOnTheWidenedWeights(int rows, int inFeatures, int outFeatures, bool bias, int threads)
    {
        using var scope = NewDisposeScope();
        using var threadCount = KernelAssert.Threads(threads);
        manual_seed(rows * 100 + inFeatures);
        var w = randn(outFeatures, inFeatures).to(ScalarType.BFloat16);
        var b = bias ? randn(outFeatures) : null;
        var x = randn(1, rows, inFeatures);
        using var _ = no_grad();
        var actual = Projection.Linear(x, w, b, null, out var used);
        Assert.True(used);
        KernelAssert.Close(F.linear(x, w.to(ScalarType.Float32), b), actual);
        // Many rows (prefill) run the tiled product on the widened weights.
        var many = randn(40, inFeatures);
        KernelAssert.Close(F.linear(many, w.to(ScalarType.Float32), b), Projection.Linear(many, w, b, null, out used));
        Assert.True(used);
    }

    [Theory]
    [InlineData(1, 32, 13, true, 1)]
    [InlineData(3, 96, 61, false, 2)]
    [InlineData(8, 512, 1031, true, 3)]
    [InlineData(16, 352, 130, false, 2)]
    [InlineData(1, 2048, 4099, false, 2)]
    public void TheInt8KernelEqualsFLinearOnTheDequantizedWeightsAndQ8_0RoundedInputs(int rows, int inFeatures, int outFeatures, bool bias, int threads)
    {
        using var scope = NewDisposeScope();
        using var threadCount = KernelAssert.Threads(threads);
        manual_seed(rows * 100 + inFeatures);
        var (q, s) = Quantized(randn(outFeatures, inFeatures));
        var w = Projection.Dequantize(q, s);
        var b = bias ? randn(outFeatures) : null;
        var x = randn(1, rows, inFeatures);
        using var _ = no_grad();
        var actual = Projection.Linear(x, q, b, s, out var used);
        Assert.True(used);
        KernelAssert.Close(F.linear(RoundedToQ8_0(x), w, b), actual);
        // Many rows (prefill) run the tiled product on the widened weights.and agree too.
        var many = randn(40, inFeatures);
        KernelAssert.Close(F.linear(RoundedToQ8_0(many), w, b), Projection.Linear(many, q, b, s, out used));
        Assert.True(used);
    }

    [Fact]
    public void RoundingTheInputsToInt8BlocksStaysWithinTheStatedToleranceOfFp32Inputs()
    {
        using var scope = NewDisposeScope();
        manual_seed(7);
        var (q, s) = Quantized(randn(1024, 2048));
        var x = randn(4, 2048);
        using var _ = no_grad();
        var exact = F.linear(x, Projection.Dequantize(q, s), null);
        var ours = Projection.Linear(x, q, null, s);
        // Half a step of max|x|/127 per element: measured 6.0e-3 of the largest output on normal x and w.
        var scale = exact.abs().max().item<float>();
        var error = (exact - ours).abs().max().item<float>();
        output.WriteLine($"Q8_0-rounded inputs vs fp32 inputs: max |Δ| {error:E2} of the largest output {scale:E2} ({error / scale:E2})");
        Assert.True(error <= 1e-2 * scale, $"max error {error} relative to {scale}");
    }

    [Fact]
    public void ActivationBlocksRoundByTheWeightsQ8_0RuleIncludingTies()
    {
        // max |x| = 127 gives d = 1: halves are exact ties and round away from zero; 0.49999997 stays 0.
        var values = new float[64];
        values[0] = 127f;
        values[1] = 2.5f;
        values[2] = -3.5f;
        values[3] = 0.49999997f;
        values[4] = -0.5f;
        values[5] = -126.5f;
        var random = new Random(11);
        for (var i = 32; i < 64; i++) values[i] = (float)(random.NextDouble() * 6 - 3);
        var expected = new sbyte[64];
        var expectedScales = new float[2];
        Int8Blocks.Quantize(values, expected, expectedScales);
        Assert.Equal([127, 3, -4, 0, -1, -127], expected[..6].Select(v => (int)v));

        var quants = new sbyte[64];
        var scales = new float[2];
        ActivationBlocks.Quantize(values, quants, scales);
        Assert.Equal(expected, quants);
        Assert.Equal(expectedScales, scales);
    }

    /// <summary>x with every row rounded to Q8_0 blocks and back (the input the int8 kernel multiplies).</summary>
    internal static Tensor RoundedToQ8_0(Tensor x)
    {
        var values = x.contiguous().data<float>().ToArray();
        var quants = new sbyte[values.Length];
        var scales = new float[values.Length / Int8Blocks.BlockSize];
        Int8Blocks.Quantize(values, quants, scales);
        var rounded = quants.Select((v, i) => v * scales[i / Int8Blocks.BlockSize]).ToArray();
        return tensor(rounded, x.shape);
    }

    [Fact]
    public void Int8BlocksFollowLlamaCppsQ8_0Rule()
    {
        // One block: max |x| = 2.54 → d = 0.02 (as fp16); 0.03 = 1.5 d rounds away from zero to 2, -0.01 = -0.5 d to -1.
        var values = new float[32];
        values[0] = 2.54f;
        values[1] = 0.03f;
        values[2] = -0.01f;
        values[3] = -2.54f;
        var quants = new sbyte[32];
        var scales = new float[1];
        Int8Blocks.Quantize(values, quants, scales);
        Assert.Equal((float)(Half)(2.54f / 127f), scales[0]);
        Assert.Equal([127, 2, -1, -127], quants[..4].Select(q => (int)q));
        Assert.All(quants[4..], q => Assert.Equal(0, q));

        var random = new Random(5);
        var row = Enumerable.Range(0, 256).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        var q8 = new sbyte[256];
        var d = new float[8];
        Int8Blocks.Quantize(row, q8, d);
        // Half a step of rounding, plus 127 × the fp16 rounding of d (≤ 2⁻¹¹ d): q is taken against the unrounded d, as in ggml.
        for (var i = 0; i < row.Length; i++)
            Assert.True(Math.Abs(row[i] - q8[i] * d[i / 32]) <= d[i / 32] * (0.5f + 127f / 2048f), $"element {i}");
    }

    internal static (Tensor Quants, Tensor Scales) Quantized(Tensor w)
    {
        var (rows, columns) = ((int)w.shape[0], (int)w.shape[1]);
        var quants = new sbyte[rows * columns];
        var scales = new float[rows * columns / Int8Blocks.BlockSize];
        Int8Blocks.Quantize(w.contiguous().data<float>().ToArray(), quants, scales);
        return (tensor(quants, [rows, columns]), tensor(scales, [rows, columns / Int8Blocks.BlockSize]));
    }
}
