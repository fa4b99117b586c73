using HuatuoAspire.Model;
using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.Tokenization;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.UnitTests.Engine;

public sealed class GenerationTests
{
    private static readonly int[][] Prompts =
    [
        [72, 101, 108, 108, 111],
        [65, 32, 52, 53, 45, 121, 101, 97, 114, 45, 111, 108, 100, 32, 109, 97, 110],
        [83],
        [87, 104, 97, 116, 32, 105, 115, 32, 116, 104, 101, 32, 100, 111, 115, 101, 63, 32, 49, 48],
    ];

    [Theory]
    [InlineData(ModelArchitecture.Llama)]
    [InlineData(ModelArchitecture.Qwen2)]
    public void CachedDecodingGivesTheLogitsOfAFullRecomputation(ModelArchitecture arch)
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(arch), ModelPlacement.Cpu);
        var prompt = Prompts[1];
        using var decoder = new BatchedDecoder(model, 1, 64, new HashSet<int>());
        var produced = new List<int>(prompt);
        var first = decoder.Add(prompt, SamplingOptions.Greedy(8));
        produced.Add(first.Token.TokenId);
        for (var i = 0; i < 6; i++) produced.Add(decoder.Step().Single().Token.TokenId);

        // The log-probability each cached step reported equals the one from one full forward pass over the text.
        using var _ = no_grad();
        using var ids = tensor(produced.Select(t => (long)t).ToArray(), [1, produced.Count]);
        using var logits = model.ForwardLogits(ids);
        using var logp = logits.log_softmax(-1);
        using var again = new BatchedDecoder(model, 1, 64, new HashSet<int>());
        var tokens = new List<SampledToken> { again.Add(prompt, SamplingOptions.Greedy(8)).Token };
        for (var i = 0; i < 6; i++) tokens.Add(again.Step().Single().Token);
        for (var i = 0; i < tokens.Count; i++)
        {
            var position = prompt.Length - 1 + i;
            var expected = logp[0, position, tokens[i].TokenId].item<float>();
            Assert.Equal(expected, tokens[i].RawLogProb, 4);
            var argmax = logits[0, position].argmax().item<long>();
            Assert.Equal(argmax, tokens[i].TokenId);
        }
    }

    [Fact]
    public void BatchedGreedyGenerationEqualsOneSequenceAtATime()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        var tokenizer = HfTokenizer.FromFolder(TinyModels.Folder(ModelArchitecture.Llama));
        var options = SamplingOptions.Greedy(12) with { StopTokenIds = new HashSet<int>() };
        var batched = TextGeneration.Generate(model, tokenizer, Prompts, options, maxBatch: 4);
        // Two rows at a time: sequences join and leave the batch as others finish.
        var staggered = TextGeneration.Generate(model, tokenizer, Prompts, options, maxBatch: 2);
        for (var i = 0; i < Prompts.Length; i++)
        {
            var alone = TextGeneration.Generate(model, tokenizer, [Prompts[i]], options, maxBatch: 1)[0];
            Assert.Equal(alone.TokenIds, batched[i].TokenIds);
            Assert.Equal(alone.TokenIds, staggered[i].TokenIds);
            Assert.Equal(12, alone.TokenIds.Count);
        }
    }

    [Fact]
    public void ASequenceJoiningMidBatchGetsTheSameTokensAsAlone()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Qwen2), ModelPlacement.Cpu);
        var options = SamplingOptions.Greedy(10) with { StopTokenIds = new HashSet<int>() };
        using var decoder = new BatchedDecoder(model, 4, 64);
        var a = decoder.Add(Prompts[0], options);
        var seqA = new List<int> { a.Token.TokenId };
        for (var i = 0; i < 4; i++) seqA.Add(decoder.Step().Single().Token.TokenId);
        var b = decoder.Add(Prompts[3], options);
        var seqB = new List<int> { b.Token.TokenId };
        while (decoder.Active > 0)
        {
            foreach (var t in decoder.Step())
            {
                (t.SequenceId == a.SequenceId ? seqA : seqB).Add(t.Token.TokenId);
            }
        }
        using var alone = new BatchedDecoder(model, 1, 64);
        var soloB = new List<int> { alone.Add(Prompts[3], options).Token.TokenId };
        while (alone.Active > 0) soloB.Add(alone.Step().Single().Token.TokenId);
        Assert.Equal(soloB, seqB);
        Assert.Equal(10, seqA.Count);
    }

    [Fact]
    public void SeededSamplingIsReproducibleAndTopK1IsGreedy()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        var tokenizer = HfTokenizer.FromFolder(TinyModels.Folder(ModelArchitecture.Llama));
        var sampled = new SamplingOptions { Temperature = 1.5, TopP = 0.95, Seed = 7, MaxNewTokens = 16, StopTokenIds = new HashSet<int>() };
        var first = TextGeneration.Generate(model, tokenizer, Prompts, sampled);
        var second = TextGeneration.Generate(model, tokenizer, Prompts.Reverse().ToArray(), sampled);
        for (var i = 0; i < Prompts.Length; i++) Assert.Equal(first[i].TokenIds, second[Prompts.Length - 1 - i].TokenIds);
        var otherSeed = TextGeneration.Generate(model, tokenizer, Prompts, sampled with { Seed = 8 });
        Assert.Contains(Enumerable.Range(0, Prompts.Length), i => !otherSeed[i].TokenIds.SequenceEqual(first[i].TokenIds));

        var greedy = TextGeneration.Generate(model, tokenizer, Prompts, SamplingOptions.Greedy(16) with { StopTokenIds = new HashSet<int>() });
        var topK1 = TextGeneration.Generate(model, tokenizer, Prompts, sampled with { TopK = 1 });
        for (var i = 0; i < Prompts.Length; i++) Assert.Equal(greedy[i].TokenIds, topK1[i].TokenIds);
    }

    [Fact]
    public void LogProbabilitiesAreThoseOfTheTemperatureScaledPolicy()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Qwen2), ModelPlacement.Cpu);
        var options = new SamplingOptions { Temperature = 0.5, Seed = 3, MaxNewTokens = 1 };
        using var decoder = new BatchedDecoder(model, 1, 64, new HashSet<int>());
        var token = decoder.Add(Prompts[1], options).Token;
        using var _ = no_grad();
        using var ids = tensor(Prompts[1].Select(t => (long)t).ToArray(), [1, Prompts[1].Length]);
        using var last = model.ForwardLogits(ids)[0, -1];
        Assert.Equal((last / 0.5).log_softmax(-1)[token.TokenId].item<float>(), token.LogProb, 4);
        Assert.Equal(last.log_softmax(-1)[token.TokenId].item<float>(), token.RawLogProb, 4);
    }

    [Fact]
    public void StopStringsCutTheTextAndStopTokensEndTheSequence()
    {
        var tokenizer = HfTokenizer.FromFolder(TinyModels.Folder(ModelArchitecture.Llama));
        var text = new SequenceText(tokenizer, ["## Final"]);
        var emitted = "";
        foreach (var b in "Thinking done.\n## Final Response"u8.ToArray()) emitted += text.Push(b);
        Assert.True(text.Stopped);
        Assert.Equal("Thinking done.\n", emitted);
        Assert.Equal("Thinking done.\n", text.Text);

        // A partial match is held back, then released when it turns out not to be the stop string.
        var partial = new SequenceText(tokenizer, ["STOP"]);
        Assert.Equal("ab", partial.Push('a') + partial.Push('b') + partial.Push('S') + partial.Push('T'));
        Assert.Equal("STx", partial.Push('x'));

        // Multi-byte characters come out whole: "é" is two byte tokens.
        var utf8 = new SequenceText(tokenizer, []);
        Assert.Equal("", utf8.Push(0xC3));
        Assert.Equal("é", utf8.Push(0xA9));
    }

    [Fact]
    public void APromptThatDoesNotFitIsRejectedWithTheLimit()
    {
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        using var decoder = new BatchedDecoder(model, 1, 16);
        var error = Assert.Throws<ArgumentException>(() => decoder.Add(Enumerable.Repeat(65, 20).ToArray(), SamplingOptions.Greedy(4)));
        Assert.Contains("limit is 15", error.Message);
        Assert.Throws<ArgumentException>(() => decoder.Add([999_999], SamplingOptions.Greedy(4)));
    }
}
