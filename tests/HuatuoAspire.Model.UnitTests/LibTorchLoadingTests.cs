using static TorchSharp.torch;

namespace HuatuoAspire.Model.UnitTests;

/// <summary>libtorch loads on this machine (see build/TorchSharp.targets) and computes.</summary>
public sealed class LibTorchLoadingTests
{
    [Fact]
    public void LibTorchLoadsAndMultipliesMatrices()
    {
        using var a = tensor(new float[] { 1, 2, 3, 4 }, [2, 2]);
        using var b = tensor(new float[] { 5, 6, 7, 8 }, [2, 2]);
        using var c = matmul(a, b);
        Assert.Equal([19f, 22f, 43f, 50f], c.data<float>().ToArray());
    }
}
