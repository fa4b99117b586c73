using HuatuoAspire.Benchmarks.Generation;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>The benchmark's bookkeeping (not its speed): what it counts as weight bytes, and that its figures are real measurements.</summary>
public sealed class GenerationBenchmarkTests
{
    [Theory]
    [InlineData(ModelArchitecture.Llama)]
    [InlineData(ModelArchitecture.Qwen2)]
    public void WeightBytesPerStepAreEveryMatrixButTheInputEmbeddingUnlessTied(ModelArchitecture arch)
    {
        using var lm = CausalLanguageModel.FromPretrained(TinyModels.Folder(arch), ModelPlacement.Cpu);
        var result = GenerationBenchmark.Run(lm, promptTokens: 12, decodeSteps: 3, batch: 2, repeats: 1, copyBytes: 8L << 20);

        var c = lm.Config;
        long kv = c.KeyValueHeads * c.HeadDim, q = c.NumAttentionHeads * c.HeadDim, h = c.HiddenSize;
        var perLayer = h * q + 2 * h * kv + q * h + 3 * h * c.IntermediateSize + 2 * h + (c.QkvBias ? q + 2 * kv : 0);
        var head = (long)c.VocabSize * h; // lm_head, or the tied embedding used as the head
        var expected = 4 * (c.NumHiddenLayers * perLayer + h + head);
        Assert.Equal(expected, result.WeightBytesPerStep);
        Assert.Equal(lm.ParameterCount, result.Parameters);

        Assert.True(result.PrefillTokensPerSecond > 0 && double.IsFinite(result.PrefillTokensPerSecond));
        Assert.True(result.DecodeBatch1TokensPerSecond > 0 && result.DecodeBatch8TokensPerSecond > 0);
        Assert.True(result.CopyBandwidthBytesPerSecond > 1e8, $"copy bandwidth {result.CopyBandwidthBytesPerSecond} B/s");
        Assert.True(result.PeakMemoryBytes > result.WeightBytesPerStep);
        Assert.Equal(result.CopyBandwidthBytesPerSecond / expected, result.BandwidthBoundTokensPerSecond, 6);
    }
}
