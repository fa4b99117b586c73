using HuatuoAspire.Model.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>
/// What the kernel tests share: closeness relative to the largest expected value, and libtorch's thread count or
/// MatMul's tiles for one test.
/// </summary>
internal static class KernelAssert
{
    /// <summary>The largest difference is at most 1e-5 of the largest expected magnitude.</summary>
    public static void Close(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        var scale = expected.abs().max().item<float>() + 1e-6f;
        var error = (expected - actual).abs().max().item<float>();
        Assert.True(error <= 1e-5 * scale, $"max error {error} relative to {scale}");
    }

    /// <summary>Sets libtorch's (and so the kernel's default) thread count until the result is disposed.</summary>
    public static IDisposable Threads(int threads)
    {
        var before = get_num_threads();
        set_num_threads(threads);
        return new Restore(before);
    }

    /// <summary>Runs <see cref="MatMul"/>'s AVX-512 tiles (where the hardware has them) or its AVX2 tiles until disposed.</summary>
    public static IDisposable Avx512(bool on)
    {
        var before = MatMul.UseAvx512;
        MatMul.UseAvx512 = on;
        return new Undo(() => MatMul.UseAvx512 = before);
    }

    private sealed class Restore(int threads) : IDisposable
    {
        public void Dispose() => set_num_threads(threads);
    }

    private sealed class Undo(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
