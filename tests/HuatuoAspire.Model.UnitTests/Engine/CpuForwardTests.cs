using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.Modules;
using Xunit.Abstractions;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>
/// The allocation-free CPU forward pass computes what libtorch's path computes: same tokens, log-probabilities within
/// float rounding, for fp32, bf16 and int8 weights, both architectures (Qwen2: biases and a tied head), several rows at
/// different positions, some joining while others decode; prompts long enough for the tiled product, prefilled whole,
/// in chunks packed with other prompts, and longer than one pass.
/// </summary>
public sealed class CpuForwardTests(ITestOutputHelper output)
{
    // Both paths sum the same products in another order (measured max |Δ| ~1e-6 on the tiny models).
    private const double Tolerance = 1e-4;
    // int8 rounds each product's input to int8 blocks: both paths give identical numbers, but where libtorch's own
    // operations (norms, attention) differ by an ulp, e.g. when another test changes its thread count, one input value
    // on a rounding boundary lands one step (d = max|x|/127) apart (measured once: 4.5e-3).
    private const double Int8Tolerance = 2e-2;

    private static readonly int[][] Prompts =
    [
        [72, 101, 108, 108, 111],
        [65, 32, 52, 53, 45, 121, 101, 97, 114, 45, 111, 108, 100, 32, 109, 97, 110],
        [83],
        // 40 tokens: its prefill runs the tiled product (more than MatVec's 16 rows).
        [.. "The patient, a 45-year-old man, presents with chest pain."u8.ToArray().Take(40).Select(b => (int)b)],
    ];

    [Theory]
    [InlineData(ModelArchitecture.Llama, "f32")]
    [InlineData(ModelArchitecture.Llama, "bf16")]
    [InlineData(ModelArchitecture.Llama, "int8")]
    [InlineData(ModelArchitecture.Qwen2, "f32")]
    [InlineData(ModelArchitecture.Qwen2, "int8")]
    public void TheCpuPassGivesLibTorchsTokensAndLogProbabilities(ModelArchitecture arch, string weights)
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(arch), ModelPlacement.ForWeights("cpu", weights));
        var fused = Generate(model, useCpuForward: true);
        var libtorch = Generate(model, useCpuForward: false);
        AssertSame(libtorch, fused, weights, $"{arch} {weights}");
    }

    [Theory]
    [InlineData("f32", true)]
    [InlineData("int8", true)]
    [InlineData("f32", false)]
    public void APromptLongerThanOnePassIsPrefilledInPassesAsLibTorchPrefillsIt(string weights, bool avx512)
    {
        using var tiles = KernelAssert.Avx512(avx512);
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.ForWeights("cpu", weights));
        var random = new Random(3);
        var prompt = Enumerable.Range(0, CpuForward.MaxTokensPerPass + 37).Select(_ => random.Next(32, 127)).ToArray();
        List<DecodedToken> Run(bool useCpuForward)
        {
            using var decoder = new BatchedDecoder(model, 2, 512, new HashSet<int>()) { UseCpuForward = useCpuForward };
            var options = SamplingOptions.Greedy(4) with { TopLogprobs = 5 };
            var tokens = new List<DecodedToken> { decoder.Add(prompt, options) };
            // Another prompt (no shared prefix to copy) is prefilled in chunks of 100 tokens while the first decodes.
            decoder.Join(prompt[..200].Reverse().ToArray(), options);
            while (decoder.Active > 0) tokens.AddRange(decoder.Step(100));
            Assert.Equal(useCpuForward, decoder.UsedCpuForward);
            return tokens;
        }
        AssertSame(Run(false), Run(true), weights, $"{weights}, {prompt.Length}-token prompt, avx512 {avx512}");
    }

    [Fact]
    public void BadTokensRowsAndPositionsAreRefusedBeforeAnythingIsWritten()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        using var cache = new KvCache(model.Config, 2, 32, TorchSharp.torch.CPU, TorchSharp.torch.ScalarType.Float32);
        var pass = CpuForward.TryCreate(model, cache, model.Rope(32))!;
        Assert.Throws<ArgumentOutOfRangeException>(() => pass.Run([1, 2], [0, 2], [0, 1], [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => pass.Run([1, 2], [0, 0], [0, 32], [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => pass.Run([1, 100000], [0, 0], [0, 1], [1]));
        Assert.Throws<ArgumentException>(() => pass.Run([1, 2], [0, 0], [0, 1], [1, 0]));
        Assert.Throws<ArgumentException>(() => pass.Run([1, 2], [0], [0, 1], [1]));
        Assert.Equal(model.Config.VocabSize, pass.Run([1, 2], [0, 0], [0, 1], [1]).Length);
    }

    private void AssertSame(List<DecodedToken> libtorch, List<DecodedToken> fused, string weights, string what)
    {
        var tolerance = weights == "int8" ? Int8Tolerance : Tolerance;
        Assert.Equal(libtorch.Select(t => t.Token.TokenId), fused.Select(t => t.Token.TokenId));
        var worst = 0.0;
        for (var i = 0; i < fused.Count; i++)
        {
            worst = Math.Max(worst, Math.Abs(fused[i].Token.RawLogProb - libtorch[i].Token.RawLogProb));
            var theirs = libtorch[i].TopLogprobs!;
            foreach (var ours in fused[i].TopLogprobs!)
            {
                // The same alternatives with the same log-probabilities; one may trade places with the next-best only
                // where the two are within the tolerance.
                var at = Array.FindIndex(theirs, t => t.TokenId == ours.TokenId);
                var reference = at >= 0 ? theirs[at].Logprob : theirs[^1].Logprob;
                Assert.True(at >= 0 || Math.Abs(ours.Logprob - reference) <= tolerance, $"step {i}: token {ours.TokenId} is not among libtorch's alternatives");
                worst = Math.Max(worst, Math.Abs(ours.Logprob - reference));
            }
        }
        output.WriteLine($"{what}: {fused.Count} tokens, max |Δ log p| {worst:E2}");
        Assert.True(worst <= tolerance, $"max |Δ log p| {worst}");
    }

    [Fact]
    public void AModelWithALoraAdapterDecodesThroughLibTorch()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        using var decoder = new BatchedDecoder(model, 1, 32, new HashSet<int>());
        decoder.Add(Prompts[0], SamplingOptions.Greedy(4));
        decoder.Step();
        Assert.True(decoder.UsedCpuForward);

        model.model.layers[0].mlp.down_proj.AttachLora(2, 4, 0);
        using var adapted = new BatchedDecoder(model, 1, 32, new HashSet<int>());
        adapted.Add(Prompts[0], SamplingOptions.Greedy(4));
        adapted.Step();
        Assert.False(adapted.UsedCpuForward);
    }

    // Rows 0, 1 and 2 start together; row 3 joins after two steps (chunked prefill rides along with decoding rows).
    private static List<DecodedToken> Generate(CausalLanguageModel model, bool useCpuForward)
    {
        using var decoder = new BatchedDecoder(model, 4, 80, new HashSet<int>()) { UseCpuForward = useCpuForward };
        var options = SamplingOptions.Greedy(10) with { TopLogprobs = 5 };
        var tokens = new List<DecodedToken> { decoder.Add(Prompts[0], options), decoder.Add(Prompts[1], options), decoder.Add(Prompts[3], options) };
        for (var s = 0; s < 2; s++) tokens.AddRange(decoder.Step());
        decoder.Join(Prompts[2], options);
        while (decoder.Active > 0) tokens.AddRange(decoder.Step(8));
        Assert.Equal(useCpuForward, decoder.UsedCpuForward);
        return tokens;
    }
}
