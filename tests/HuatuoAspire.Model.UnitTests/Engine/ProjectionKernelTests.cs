using HuatuoAspire.Model.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>
/// The CPU decode kernel of <see cref="Projection"/> computes what <c>F.linear</c> computes, on awkward shapes, one to
/// sixteen rows, with and without bias and workers, and steps aside whenever it must (gradients, strides); more rows
/// run <see cref="MatMul"/> (<see cref="MatMulTests"/>).
/// </summary>
public sealed class ProjectionKernelTests
{
    [Theory]
    [InlineData(1, 37, 13, true, 1)]
    [InlineData(2, 37, 13, false, 1)]
    [InlineData(3, 100, 61, true, 2)]
    [InlineData(5, 257, 129, true, 2)]
    [InlineData(7, 8, 4, false, 2)]
    [InlineData(8, 515, 1031, true, 2)]
    [InlineData(8, 515, 1031, false, 3)]
    [InlineData(1, 1024, 2051, false, 2)]
    [InlineData(13, 515, 263, true, 2)]
    [InlineData(16, 96, 1031, false, 2)]
    [InlineData(4, 3, 1, true, 1)]
    public void TheKernelEqualsFLinear(int rows, int inFeatures, int outFeatures, bool bias, int threads)
    {
        using var scope = NewDisposeScope();
        using var threadCount = KernelAssert.Threads(threads);
        manual_seed(rows * 1000 + inFeatures);
        using var projection = new Projection(inFeatures, outFeatures, bias);
        var x = randn(1, rows, inFeatures);
        using var _ = no_grad();
        var expected = F.linear(x, projection.weight, projection.bias);
        var actual = projection.forward(x);
        Assert.True(projection.LastCallUsedKernel);
        KernelAssert.Close(expected, actual);
    }

    [Fact]
    public void AContiguousViewWithAnOffsetIsReadFromItsOwnStart()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var projection = new Projection(40, 9, hasBias: true);
        var big = randn(6, 40);
        var x = big.narrow(0, 2, 3); // contiguous, storage offset 80 elements
        using var _ = no_grad();
        var actual = projection.forward(x);
        Assert.True(projection.LastCallUsedKernel);
        KernelAssert.Close(F.linear(x, projection.weight, projection.bias), actual);
    }

    [Fact]
    public void TheKernelStepsAsideForStridesAndGradients()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        using var projection = new Projection(24, 10, hasBias: true);

        using (no_grad())
        {
            var strided = randn(24, 3).t(); // [3, 24], not contiguous
            var y = projection.forward(strided);
            Assert.False(projection.LastCallUsedKernel);
            KernelAssert.Close(F.linear(strided, projection.weight, projection.bias), y);

            var many = randn(3, 6, 24); // 18 rows: more than MatVec.MaxRows, the tiled product's
            KernelAssert.Close(F.linear(many, projection.weight, projection.bias), projection.forward(many));
            Assert.True(projection.LastCallUsedKernel);

            var doubles = randn(1, 24, dtype: ScalarType.Float64);
            using var p64 = new Projection(24, 10, hasBias: false, dtype: ScalarType.Float64);
            p64.forward(doubles);
            Assert.False(p64.LastCallUsedKernel);
        }

        // Gradients enabled and the weight requires them: autograd must see the product.
        var x = randn(1, 24);
        var loss = projection.forward(x).sum();
        Assert.False(projection.LastCallUsedKernel);
        loss.backward();
        Assert.NotNull(projection.weight.grad);
    }

    [Fact]
    public void AFrozenWeightUsesTheKernelEvenWithGradientsOn()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var projection = new Projection(33, 17, hasBias: true);
        projection.weight.requires_grad = false;
        projection.bias!.requires_grad = false;
        var x = randn(2, 33);
        var y = projection.forward(x);
        Assert.True(projection.LastCallUsedKernel);
        using var _ = no_grad();
        KernelAssert.Close(F.linear(x, projection.weight, projection.bias), y);
    }

    [Fact]
    public void TheSkippedInitialisationEndsWithItsScopeAndStaysOnItsThread()
    {
        static void AssertInitialised(Projection p)
        {
            // nn.Linear's Kaiming-uniform weights lie within ±1/√in, spread over that range; the bias within the same bound.
            var bound = 1 / Math.Sqrt(p.InFeatures);
            Assert.InRange(p.weight.abs().max().item<float>(), 0.5 * bound, bound);
            Assert.InRange(p.bias!.abs().max().item<float>(), 0.1 * bound, bound);
        }

        using (Projection.WeightsLoadedAfterwards())
        {
            using (Projection.WeightsLoadedAfterwards()) { }
            // Another thread is not in the scope: its projections are initialised as usual (the scope is thread-static,
            // so it must not span an await; this test blocks instead).
            Projection? elsewhere = null;
            var thread = new Thread(() => elsewhere = new Projection(64, 32, hasBias: true));
            thread.Start();
            thread.Join();
            using (elsewhere) AssertInitialised(elsewhere!);
        }
        using var after = new Projection(64, 32, hasBias: true);
        AssertInitialised(after);
    }
}
