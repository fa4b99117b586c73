using System.Text;
using System.Text.Json.Nodes;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Model.UnitTests.Tokenization;

public sealed class HfTokenizerTests : IDisposable
{
    private readonly List<string> _temporaryFolders = [];

    public void Dispose()
    {
        foreach (var dir in _temporaryFolders) Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void LlamaSpecialTokensComeFromTheConfigFiles()
    {
        var llama = TokenizerFixtures.Llama;
        Assert.Equal(128000, llama.BosTokenId);
        Assert.Equal("<|begin_of_text|>", llama.BosToken);
        Assert.Equal("<|eot_id|>", llama.EosToken);
        Assert.Equal([128009], llama.EosTokenIds.Order());
        Assert.Null(llama.PadTokenId);
        Assert.Equal(128256, llama.VocabSize);
        Assert.Contains("<|start_header_id|>", llama.ChatTemplate);
        Assert.Equal(128000, llama.Encode("x")[0]);
        Assert.NotEqual(128000, llama.Encode("x", addSpecialTokens: false)[0]);
    }

    [Fact]
    public void QwenHasNoBosAndPadsWithEndOfText()
    {
        var qwen = TokenizerFixtures.Qwen;
        Assert.Null(qwen.BosTokenId);
        Assert.Equal([151645], qwen.EosTokenIds.Order());
        Assert.Equal(151643, qwen.PadTokenId);
        Assert.Equal(151669, qwen.VocabSize);
        Assert.Equal(qwen.Encode("hello", addSpecialTokens: false), qwen.Encode("hello"));
    }

    [Fact]
    public void TokenLookupsCoverVocabularyAndAddedTokens()
    {
        var qwen = TokenizerFixtures.Qwen;
        Assert.Equal(151644, qwen.TokenToId("<|im_start|>"));
        Assert.Equal("<|im_start|>", qwen.IdToToken(151644));
        Assert.Equal(9707, qwen.TokenToId("Hello"));
        Assert.Equal("Hello", qwen.IdToToken(9707));
        Assert.Equal("Ġworld", qwen.IdToToken(1879));
        Assert.Null(qwen.TokenToId("no such token in any vocabulary"));
        Assert.Null(qwen.IdToToken(10_000_000));
    }

    [Fact]
    public void GenerationConfigAddsEosIds()
    {
        var dir = CopyToTemp(TokenizerFixtures.ModelFolder("llama3_1"));
        File.WriteAllText(Path.Combine(dir, "generation_config.json"), """{"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]}""");
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"eos_token_id": 128001}""");
        var tokenizer = HfTokenizer.FromFolder(dir);
        Assert.Equal([128001, 128008, 128009], tokenizer.EosTokenIds.Order());
    }

    [Fact]
    public void SkipSpecialTokensDropsOnlySpecialOnes()
    {
        var qwen = TokenizerFixtures.Qwen;
        var ids = qwen.Encode("<|im_start|>user\n<think>hi</think><|im_end|>");
        Assert.Equal("user\n<think>hi</think>", qwen.Decode(ids, skipSpecialTokens: true)); // <think> is added but not special
        Assert.Equal("<|im_start|>user\n<think>hi</think><|im_end|>", qwen.Decode(ids));
    }

    [Fact]
    public void StreamDecoderHoldsBackSplitCharactersAndMatchesDecode()
    {
        var llama = TokenizerFixtures.Llama;
        foreach (var text in TokenizerFixtures.Corpus)
        {
            var ids = llama.Encode(text, addSpecialTokens: false);
            var decoder = llama.CreateStreamDecoder();
            var streamed = new StringBuilder();
            foreach (var id in ids)
            {
                var chunk = decoder.Push(id);
                Assert.False(chunk.Length > 0 && char.IsHighSurrogate(chunk[^1]), $"chunk ends inside a surrogate pair: {text}");
                Assert.DoesNotContain('\uFFFD', chunk);
                streamed.Append(chunk);
            }
            streamed.Append(decoder.Flush());
            Assert.Equal(llama.Decode(ids), streamed.ToString());
        }
    }

    [Fact]
    public void StreamDecoderEmitsNothingUntilAMultiByteCharacterIsComplete()
    {
        var llama = TokenizerFixtures.Llama;
        // "梗" is three UTF-8 bytes that Llama-3 spells with two tokens.
        var ids = llama.Encode("梗", addSpecialTokens: false);
        Assert.Equal(2, ids.Count);
        var decoder = llama.CreateStreamDecoder();
        Assert.Equal("", decoder.Push(ids[0]));
        Assert.Equal("梗", decoder.Push(ids[1]));
        Assert.Equal("", decoder.Flush());
    }

    [Fact]
    public void StreamDecoderFlushTurnsAnIncompleteCharacterIntoReplacement()
    {
        var llama = TokenizerFixtures.Llama;
        var ids = llama.Encode("梗", addSpecialTokens: false);
        var decoder = llama.CreateStreamDecoder();
        Assert.Equal("", decoder.Push(ids[0]));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal("\uFFFD<|eot_id|>", llama.Decode([ids[0], 128009]));
    }

    [Fact]
    public void UnknownIdIsAnErrorThatNamesIt()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => TokenizerFixtures.Qwen.Decode([9707, 999_999]));
        Assert.Contains("999999", error.Message);
    }

    [Fact]
    public void MissingFolderIsAClearError()
    {
        var error = Assert.Throws<FileNotFoundException>(() => HfTokenizer.FromFolder("/nonexistent/tokenizer/dir"));
        Assert.Contains("/nonexistent/tokenizer/dir", error.Message);
    }

    [Fact]
    public void UnsupportedModelTypeIsNamed()
    {
        var json = new JsonObject { ["model"] = new JsonObject { ["type"] = "Unigram" } };
        var error = Assert.Throws<NotSupportedException>(() => HfTokenizer.FromJson(json, new JsonObject()));
        Assert.Contains("Unigram", error.Message);
    }

    [Fact]
    public void InvalidJsonNamesFileAndLine()
    {
        var dir = Directory.CreateTempSubdirectory("tok-bad").FullName;
        _temporaryFolders.Add(dir);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\n  \"model\": {,\n}");
        var error = Assert.Throws<InvalidDataException>(() => HfTokenizer.FromFolder(dir));
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains("line 2", error.Message);
    }

    private string CopyToTemp(string source)
    {
        var dir = Directory.CreateTempSubdirectory("tok").FullName;
        _temporaryFolders.Add(dir);
        foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        return dir;
    }
}
