using HuatuoAspire.Model.Gguf;
using Xunit.Abstractions;

namespace HuatuoAspire.Model.UnitTests.Gguf;

/// <summary>
/// Exported files loaded by llama.cpp (node-llama-cpp's prebuilt CPU build, flash attention off, F32 KV cache) give the same
/// logits and greedy continuations as a float64 transformers-style forward pass over the original Hugging Face weights.
/// </summary>
public sealed class LlamaCppExportTests(ITestOutputHelper output)
{
    // Measured: max |Δlogit| ≈ 1e-6 for F32 (llama.cpp computes in float32). F16 weights (and llama.cpp's F16 activations
    // in F16 matmuls) move logits by ~1e-2 at these magnitudes.
    private const double F32Tolerance = 1e-4;
    private const double F16Tolerance = 5e-2;

    private static readonly int[][] Prompts =
    [
        [256, 72, 101, 108, 108, 111],
        [256, 84, 104, 101, 32, 112, 97, 116, 105, 101, 110, 116, 32, 104, 97, 115],
        [65],
        [256, 228, 189, 160, 229, 165, 189, 10, 10, 32, 32, 49, 50, 51],
    ];

    [Theory]
    [InlineData("llama")]
    [InlineData("llama-bias")]
    [InlineData("qwen2")]
    public void F32ExportMatchesReferenceLogitsAndGreedyContinuations(string arch)
    {
        using var checkpoint = TinyCheckpoint.Create(arch);
        var gguf = Path.Combine(checkpoint.Directory, "model-f32.gguf");
        HuggingFaceGgufExporter.Export(checkpoint.Directory, checkpoint.Source, gguf, GgmlType.F32);

        var maxDiff = CompareWithReference(checkpoint, gguf, maxNewTokens: 12, F32Tolerance, requireSameGreedy: true);
        output.WriteLine($"{arch} F32: max |llama.cpp - reference| logit = {maxDiff:E2}");
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    public void F16ExportLoadsAndAgreesWithinHalfPrecision(string arch)
    {
        using var checkpoint = TinyCheckpoint.Create(arch, seed: 2);
        var gguf = Path.Combine(checkpoint.Directory, "model-f16.gguf");
        HuggingFaceGgufExporter.Export(checkpoint.Directory, checkpoint.Source, gguf, GgmlType.F16);

        var file = GgufFile.Read(gguf);
        Assert.Equal(GgmlType.F16, file.Tensor("blk.0.attn_q.weight").Type);
        Assert.Equal(GgmlType.F32, file.Tensor("blk.0.attn_norm.weight").Type);
        var maxDiff = CompareWithReference(checkpoint, gguf, maxNewTokens: 6, F16Tolerance, requireSameGreedy: false);
        output.WriteLine($"{arch} F16: max |llama.cpp - reference| logit = {maxDiff:E2}");
    }

    private static double CompareWithReference(TinyCheckpoint checkpoint, string gguf, int maxNewTokens, double tolerance, bool requireSameGreedy)
    {
        var reference = new ReferenceForward(checkpoint.Config, checkpoint.Tensors);
        var results = LlamaOracle.Greedy(gguf, Prompts, maxNewTokens);
        var maxDiff = 0.0;
        for (var p = 0; p < Prompts.Length; p++)
        {
            var oracle = results[p];
            // Teacher-force llama.cpp's continuation through the reference, so both see identical inputs at every step.
            var sequence = Prompts[p].Concat(oracle.Ids).ToArray();
            var expected = reference.Logits(sequence);
            var actual = oracle.PromptLogits.Concat(oracle.Logits).ToArray();
            Assert.Equal(sequence.Length, actual.Length);
            for (var t = 0; t < sequence.Length; t++)
            {
                Assert.Equal(TinyCheckpoint.VocabSize, actual[t].Length);
                for (var v = 0; v < TinyCheckpoint.VocabSize; v++)
                {
                    var diff = Math.Abs(actual[t][v] - expected[t][v]);
                    maxDiff = Math.Max(maxDiff, diff);
                    Assert.True(diff < tolerance,
                        $"prompt {p} position {t} token {v}: llama.cpp {actual[t][v]:G9} vs reference {expected[t][v]:G9} (tolerance {tolerance:E0})");
                }
            }
            if (requireSameGreedy)
            {
                var referenceGreedy = Enumerable.Range(Prompts[p].Length - 1, maxNewTokens).Select(t => ArgMax(expected[t])).ToArray();
                Assert.Equal(referenceGreedy, oracle.Ids);
            }
        }
        return maxDiff;
    }

    private static int ArgMax(double[] values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
