using HuatuoAspire.Model.Generation;
using Xunit.Abstractions;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>
/// The allocation-free CPU decode step computes what libtorch's decode path computes: same tokens, log-probabilities
/// within float rounding, for fp32, bf16 and int8 weights, both architectures (Qwen2: biases and a tied head) and
/// several rows at different positions, some joining while others decode.
/// </summary>
public sealed class CpuDecodeStepTests(ITestOutputHelper output)
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
    ];

    [Theory]
    [InlineData(ModelArchitecture.Llama, "f32")]
    [InlineData(ModelArchitecture.Llama, "bf16")]
    [InlineData(ModelArchitecture.Llama, "int8")]
    [InlineData(ModelArchitecture.Qwen2, "f32")]
    [InlineData(ModelArchitecture.Qwen2, "int8")]
    public void TheFusedDecodeStepGivesLibTorchsTokensAndLogProbabilities(ModelArchitecture arch, string weights)
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(arch), ModelPlacement.ForWeights("cpu", weights));
        var fused = Generate(model, useCpuDecodeStep: true);
        var libtorch = Generate(model, useCpuDecodeStep: false);

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
        output.WriteLine($"{arch} {weights}: {fused.Count} tokens, max |Δ log p| {worst:E2}");
        Assert.True(worst <= tolerance, $"max |Δ log p| {worst}");
    }

    [Fact]
    public void AModelWithALoraAdapterDecodesThroughLibTorch()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        using var decoder = new BatchedDecoder(model, 1, 32, new HashSet<int>());
        decoder.Add(Prompts[0], SamplingOptions.Greedy(4));
        decoder.Step();
        Assert.True(decoder.UsedCpuDecodeStep);

        model.model.layers[0].mlp.down_proj.AttachLora(2, 4, 0);
        using var adapted = new BatchedDecoder(model, 1, 32, new HashSet<int>());
        adapted.Add(Prompts[0], SamplingOptions.Greedy(4));
        adapted.Step();
        Assert.False(adapted.UsedCpuDecodeStep);
    }

    // Rows 0 and 1 start together; row 2 joins after two steps (chunked prefill rides along with decoding rows).
    private static List<DecodedToken> Generate(CausalLanguageModel model, bool useCpuDecodeStep)
    {
        using var decoder = new BatchedDecoder(model, 3, 48, new HashSet<int>()) { UseCpuDecodeStep = useCpuDecodeStep };
        var options = SamplingOptions.Greedy(10) with { TopLogprobs = 5 };
        var tokens = new List<DecodedToken> { decoder.Add(Prompts[0], options), decoder.Add(Prompts[1], options) };
        for (var s = 0; s < 2; s++) tokens.AddRange(decoder.Step());
        decoder.Join(Prompts[2], options);
        while (decoder.Active > 0) tokens.AddRange(decoder.Step(8));
        Assert.Equal(useCpuDecodeStep, decoder.UsedCpuDecodeStep);
        return tokens;
    }
}
