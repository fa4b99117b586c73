using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Model.UnitTests.Tokenization;

/// <summary>Our ids against Hugging Face's tokenizer (transformers.js, @lenml/tokenizers) on the real tokenizer files.</summary>
public sealed class HfTokenizerOracleTests
{
    private sealed record Reference(int[] Ids, int[] Plain, string Decoded);

    private static readonly ConcurrentDictionary<string, IReadOnlyList<Reference>> References = new();

    private static IReadOnlyList<Reference> ReferenceFor(string name) => References.GetOrAdd(name, n => RunOracle(n, TokenizerFixtures.Corpus));

    private static IReadOnlyList<Reference> RunOracle(string name, IReadOnlyList<string> texts)
    {
        var stdin = string.Join("\n", texts.Select(line => JsonSerializer.Serialize(line))) + "\n";
        var output = TokenizerFixtures.RunNode("tokenize.mjs", stdin, TokenizerFixtures.ModelFolder(name));
        var options = new JsonSerializerOptions { PropertyNameCaseInsensitive = true };
        var references = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonSerializer.Deserialize<Reference>(line, options)!).ToArray();
        Assert.Equal(texts.Count, references.Length);
        return references;
    }

    [Theory]
    [InlineData("llama3_1")]
    [InlineData("qwen3")]
    public void IdsEqualHuggingFaceOnEveryCorpusLine(string name)
    {
        var tokenizer = TokenizerFixtures.Get(name);
        var references = ReferenceFor(name);
        var mismatches = new StringBuilder();
        for (var i = 0; i < references.Count; i++)
        {
            var text = TokenizerFixtures.Corpus[i];
            var ids = tokenizer.Encode(text);
            var plain = tokenizer.Encode(text, addSpecialTokens: false);
            if (!ids.SequenceEqual(references[i].Ids) || !plain.SequenceEqual(references[i].Plain))
                mismatches.AppendLine($"line {i + 1} {JsonSerializer.Serialize(text)}: ours [{string.Join(",", ids)}] reference [{string.Join(",", references[i].Ids)}]");
        }
        Assert.True(mismatches.Length == 0, mismatches.ToString());
    }

    [Theory]
    [InlineData("llama3_1")]
    [InlineData("qwen3")]
    public void DecodeGivesBackWhatHuggingFaceDecodes(string name)
    {
        var tokenizer = TokenizerFixtures.Get(name);
        var references = ReferenceFor(name);
        for (var i = 0; i < references.Count; i++)
            Assert.Equal(references[i].Decoded, tokenizer.Decode(references[i].Plain));
    }

    [Fact]
    public void LlamaRoundTripsEveryCorpusLineExactly()
    {
        // Llama has no normaliser, so decode(encode(x)) is x itself; skipping special tokens drops only the BOS.
        var tokenizer = TokenizerFixtures.Llama;
        foreach (var text in TokenizerFixtures.Corpus)
        {
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addSpecialTokens: false)));
            if (!text.Contains("<|")) Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text), skipSpecialTokens: true));
        }
    }

    [Theory]
    [InlineData("llama3_1")]
    [InlineData("qwen3")]
    public void IdsEqualHuggingFaceOnTheDemoData(string name)
    {
        var tokenizer = TokenizerFixtures.Get(name);
        var texts = TokenizerFixtures.DemoTexts;
        var references = RunOracle(name, texts);
        for (var i = 0; i < texts.Count; i++)
            Assert.True(references[i].Ids.SequenceEqual(tokenizer.Encode(texts[i])), $"demo text {i} differs: {texts[i][..Math.Min(80, texts[i].Length)]}");
    }

    /// <summary>Seeded random strings over the characters that stress pre-tokenization and BPE boundaries.</summary>
    public static IReadOnlyList<string> RandomTexts(int seed, int count)
    {
        string[] alphabet =
        [
            "a", "Z", "é", "ß", "İ", "ſ", "k", "K", "'", "'s", "'T", "'ll", "0", "7", "١", "½", "²", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000",
            "\u2028", "\u200b", ".", ",", "!", "?", "-", "_", "/", "\\", "\"", "{", "}", "<", ">", "|", "<|", "|>", "中", "文", "，", "。", "😀", "👨‍👩‍👧",
            "🇨🇳", "❤️", "e\u0301", "𝐀", "𠀀", "ㄱ", "한", "ا", "й", "<|im_start|>", "<|eot_id|>", "<|endoftext|>", "<think>", "\u0000", "\u001f", "\u007f",
        ];
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(_ => string.Concat(Enumerable.Range(0, random.Next(1, 40)).Select(_ => alphabet[random.Next(alphabet.Length)])))
            .ToArray();
    }

    [Theory]
    [InlineData("llama3_1")]
    [InlineData("qwen3")]
    public void IdsEqualHuggingFaceOnSeededRandomText(string name)
    {
        var tokenizer = TokenizerFixtures.Get(name);
        var texts = RandomTexts(seed: 20260101, count: 400);
        var references = RunOracle(name, texts);
        for (var i = 0; i < texts.Count; i++)
        {
            Assert.True(references[i].Ids.SequenceEqual(tokenizer.Encode(texts[i])),
                $"{JsonSerializer.Serialize(texts[i])}: ours [{string.Join(",", tokenizer.Encode(texts[i]))}] reference [{string.Join(",", references[i].Ids)}]");
            Assert.Equal(references[i].Decoded, tokenizer.Decode(references[i].Plain));
        }
    }
}
