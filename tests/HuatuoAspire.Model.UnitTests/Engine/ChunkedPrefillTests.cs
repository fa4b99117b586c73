using HuatuoAspire.Model;
using HuatuoAspire.Model.Generation;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>
/// Continuous-batching prefill in the engine: prompts that <see cref="BatchedDecoder.Join"/> are prefilled by
/// <see cref="BatchedDecoder.Step(int)"/> together in one forward pass, in chunks under a token budget, while the
/// running sequences keep decoding.
/// </summary>
public sealed class ChunkedPrefillTests
{
    private static readonly int[][] Prompts =
    [
        [72, 101, 108, 108, 111],
        [65, 32, 52, 53, 45, 121, 101, 97, 114, 45, 111, 108, 100, 32, 109, 97, 110, 32, 119, 105, 116, 104, 32, 102, 101, 118, 101, 114],
        [83],
        [87, 104, 97, 116, 32, 105, 115, 32, 116, 104, 101, 32, 100, 111, 115, 101, 63, 32, 49, 48],
    ];

    private static SamplingOptions Greedy(int n, int top = 0) => SamplingOptions.Greedy(n) with { StopTokenIds = new HashSet<int>(), TopLogprobs = top };

    // The engine alone: one sequence, whole-prompt prefill (Add), then decode steps.
    private static List<SampledToken> Alone(CausalLanguageModel model, int[] prompt, int n)
    {
        using var decoder = new BatchedDecoder(model, 1, 128, new HashSet<int>());
        var tokens = new List<SampledToken> { decoder.Add(prompt, Greedy(n)).Token };
        while (decoder.Active > 0) tokens.Add(decoder.Step().Single().Token);
        return tokens;
    }

    [Theory]
    [InlineData(ModelArchitecture.Llama, 1000)]
    [InlineData(ModelArchitecture.Llama, 7)]
    [InlineData(ModelArchitecture.Qwen2, 5)]
    public void JoinedPromptsGiveTheSameGreedyTokensAsTheEngineAlone(ModelArchitecture arch, int budget)
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(arch), ModelPlacement.Cpu);
        const int n = 10;
        var expected = Prompts.Select(p => Alone(model, p, n)).ToArray();

        using var decoder = new BatchedDecoder(model, 4, 128, new HashSet<int>());
        var ids = Prompts.Select(p => decoder.Join(p, Greedy(n))).ToArray();
        var got = ids.ToDictionary(id => id, _ => new List<SampledToken>());
        var steps = 0;
        while (decoder.Active > 0)
        {
            foreach (var t in decoder.Step(budget)) got[t.SequenceId].Add(t.Token);
            Assert.True(++steps < 200);
        }
        for (var i = 0; i < Prompts.Length; i++)
        {
            Assert.Equal(expected[i].Select(t => t.TokenId), got[ids[i]].Select(t => t.TokenId));
            for (var j = 0; j < n; j++) Assert.Equal(expected[i][j].RawLogProb, got[ids[i]][j].RawLogProb, 3);
        }
    }

    [Fact]
    public void PromptsJoiningTogetherAllGetTheirFirstTokenFromOneStep()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        using var decoder = new BatchedDecoder(model, 4, 128, new HashSet<int>());
        var ids = Prompts.Select(p => decoder.Join(p, Greedy(4))).ToArray();
        Assert.Equal(4, decoder.Prefilling);
        Assert.Equal(Prompts.Sum(p => p.Length), decoder.PendingPromptTokens);

        var first = decoder.Step(Prompts.Sum(p => p.Length));
        Assert.Equal(ids, first.Select(t => t.SequenceId));
        Assert.Equal(0, decoder.Prefilling);
        Assert.Equal(0, decoder.PendingPromptTokens);
        // The next step decodes all four together.
        Assert.Equal(ids, decoder.Step(64).Select(t => t.SequenceId));
    }

    [Fact]
    public void ALongPromptIsPrefilledInChunksWhileARunningSequenceKeepsDecoding()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        var longPrompt = Enumerable.Range(0, 90).Select(i => 32 + i % 90).ToArray();
        var expectedLong = Alone(model, longPrompt, 5);
        var expectedShort = Alone(model, Prompts[0], 40);

        using var decoder = new BatchedDecoder(model, 2, 128, new HashSet<int>());
        var running = decoder.Add(Prompts[0], Greedy(40));
        var shortTokens = new List<int> { running.Token.TokenId };
        var longId = decoder.Join(longPrompt, Greedy(5));
        var longTokens = new List<int>();
        var stepsBeforeFirstLongToken = 0;
        while (decoder.Active > 0)
        {
            var step = decoder.Step(16);
            if (longTokens.Count == 0)
            {
                stepsBeforeFirstLongToken++;
                // Every step while the long prompt is prefilled still gives the running sequence its token.
                Assert.Contains(step, t => t.SequenceId == running.SequenceId);
            }
            foreach (var t in step) (t.SequenceId == longId ? longTokens : shortTokens).Add(t.Token.TokenId);
        }
        Assert.Equal((int)Math.Ceiling(90 / 16.0), stepsBeforeFirstLongToken);
        Assert.Equal(expectedLong.Select(t => t.TokenId), longTokens);
        Assert.Equal(expectedShort.Select(t => t.TokenId), shortTokens);
    }

    [Fact]
    public void APromptSharingAPrefixWithARunningOneReusesItsCacheAndGivesTheSameTokens()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        var system = Enumerable.Range(0, 40).Select(i => 40 + i).ToArray();
        var first = system.Concat(Prompts[0]).ToArray();
        var second = system.Concat(Prompts[3]).ToArray();
        var expected = Alone(model, second, 8);

        using var decoder = new BatchedDecoder(model, 3, 128, new HashSet<int>());
        var running = decoder.Add(first, Greedy(30));
        var id = decoder.Join(second, Greedy(8));
        Assert.Equal(system.Length, decoder.ReusedPromptTokens);
        Assert.Equal(Prompts[3].Length, decoder.PendingPromptTokens);
        // A prompt still being prefilled shares only what its row already holds.
        decoder.Join(system.Concat(Prompts[1]).ToArray(), Greedy(2));
        Assert.Equal(2 * system.Length, decoder.ReusedPromptTokens);

        var got = new List<int>();
        while (decoder.Contains(id))
        {
            foreach (var t in decoder.Step(64)) if (t.SequenceId == id) got.Add(t.Token.TokenId);
        }
        Assert.Equal(expected.Select(t => t.TokenId), got);
        Assert.True(decoder.Contains(running.SequenceId));
    }

    [Fact]
    public void TopLogprobsAreTheMostLikelyTokensOfTheFullForward()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        var prompt = Prompts[3];
        using var decoder = new BatchedDecoder(model, 1, 128, new HashSet<int>());
        decoder.Join(prompt, Greedy(3, top: 5));
        var tokens = new List<DecodedToken>();
        while (decoder.Active > 0) tokens.AddRange(decoder.Step(8));

        using var _ = no_grad();
        var text = prompt.Concat(tokens.Select(t => t.Token.TokenId)).Select(t => (long)t).ToArray();
        using var ids = tensor(text, [1, text.Length]);
        using var logp = model.ForwardLogits(ids).log_softmax(-1);
        for (var i = 0; i < tokens.Count; i++)
        {
            var top = tokens[i].TopLogprobs!;
            Assert.Equal(5, top.Length);
            Assert.Equal(tokens[i].Token.TokenId, top[0].TokenId); // greedy: the sampled token is the most likely
            Assert.Equal(top[0].Logprob, tokens[i].Token.RawLogProb, 4);
            using var row = logp[0, prompt.Length - 1 + i];
            var (values, indices) = row.topk(5);
            using (values)
            using (indices)
            {
                for (var k = 0; k < 5; k++)
                {
                    Assert.Equal(indices[k].item<long>(), top[k].TokenId);
                    Assert.Equal(values[k].item<float>(), top[k].Logprob, 4);
                }
            }
        }
    }
}
