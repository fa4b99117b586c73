using System.Text;
using System.Text.Json;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Model.Tokenization.ChatTemplates;

namespace HuatuoAspire.Model.UnitTests.Tokenization;

public sealed class ByteLevelTokenizerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("byte-tokenizer").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void IdsAreTheUtf8BytesWithSpecialTokensSplitOut()
    {
        ByteLevelTokenizer.WriteFolder(_dir);
        var tokenizer = HfTokenizer.FromFolder(_dir);
        Assert.Equal(ByteLevelTokenizer.VocabSize, tokenizer.VocabSize);
        Assert.Equal(ByteLevelTokenizer.ImEndId, Assert.Single(tokenizer.EosTokenIds));
        Assert.Equal(ByteLevelTokenizer.PadId, tokenizer.PadTokenId);
        Assert.Equal(ByteLevelTokenizer.BeginOfTextId, tokenizer.BosTokenId);
        var text = "Fever 39.5°C, 发热 🤒\n\tdone";
        Assert.Equal(Encoding.UTF8.GetBytes(text).Select(b => (int)b), tokenizer.Encode(text));
        Assert.Equal([ByteLevelTokenizer.ImStartId, 'u', 's', 'e', 'r', ByteLevelTokenizer.ImEndId], tokenizer.Encode("<|im_start|>user<|im_end|>"));
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void HuggingFaceTokenizesTheWrittenFolderIdentically()
    {
        ByteLevelTokenizer.WriteFolder(_dir);
        var tokenizer = HfTokenizer.FromFolder(_dir);
        var stdin = string.Join("\n", TokenizerFixtures.Corpus.Select(line => JsonSerializer.Serialize(line))) + "\n";
        var lines = TokenizerFixtures.RunNode("tokenize.mjs", stdin, _dir).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(TokenizerFixtures.Corpus.Count, lines.Length);
        for (var i = 0; i < lines.Length; i++)
        {
            using var reference = JsonDocument.Parse(lines[i]);
            var expected = reference.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(expected, tokenizer.Encode(TokenizerFixtures.Corpus[i]));
            Assert.Equal(reference.RootElement.GetProperty("decoded").GetString(), tokenizer.Decode(expected));
        }
    }

    [Fact]
    public void DefaultChatTemplateIsChatMl()
    {
        ByteLevelTokenizer.WriteFolder(_dir);
        var tokenizer = HfTokenizer.FromFolder(_dir);
        var prompt = tokenizer.ApplyChatTemplate([new ChatMessage("system", "Be brief."), new ChatMessage("user", "Dose?")]);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nDose?<|im_end|>\n<|im_start|>assistant\n", prompt);
    }

    [Fact]
    public void CustomChatTemplateIsKept()
    {
        ByteLevelTokenizer.WriteFolder(_dir, "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}");
        var tokenizer = HfTokenizer.FromFolder(_dir);
        Assert.Equal("user: hi\n", tokenizer.ApplyChatTemplate([new ChatMessage("user", "hi")], addGenerationPrompt: false));
    }
}
