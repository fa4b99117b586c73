using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Model.Tokenization;

/// <summary>
/// The tokenizer of the small models this project makes: one token per UTF-8 byte (id = byte value) plus five
/// special tokens, written as a Hugging Face tokenizer folder (a BPE model with the 256 GPT-2 byte characters
/// and no merges, ByteLevel pre-tokenizer and decoder) so that <see cref="HfTokenizer"/>, transformers and
/// transformers.js all load it and agree on the ids.
/// </summary>
public static class ByteLevelTokenizer
{
    public const int BeginOfTextId = 256;
    public const int EndOfTextId = 257;
    public const int ImStartId = 258;
    public const int ImEndId = 259;
    public const int PadId = 260;

    /// <summary>Byte tokens plus specials: the smallest embedding matrix a model for this tokenizer needs.</summary>
    public const int VocabSize = 261;

    public static IReadOnlyList<(int Id, string Content)> SpecialTokens { get; } =
    [
        (BeginOfTextId, "<|begin_of_text|>"),
        (EndOfTextId, "<|end_of_text|>"),
        (ImStartId, "<|im_start|>"),
        (ImEndId, "<|im_end|>"),
        (PadId, "<|pad|>"),
    ];

    /// <summary>ChatML, as Qwen2.5 uses it but without a default system prompt.</summary>
    public const string ChatMlTemplate =
        "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}"
        + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

    /// <summary>
    /// Writes tokenizer.json and tokenizer_config.json into <paramref name="dir"/> (created if missing). EOS is
    /// &lt;|im_end|&gt; (the end of a chat turn); a model's generation_config.json should list <see cref="EndOfTextId"/> too.
    /// </summary>
    public static void WriteFolder(string dir, string? chatTemplate = null)
    {
        Directory.CreateDirectory(dir);
        var vocab = new JsonObject();
        for (var b = 0; b < 256; b++) vocab[ByteLevelAlphabet.ByteToChar((byte)b).ToString()] = b;
        var added = new JsonArray();
        var addedDecoder = new JsonObject();
        foreach (var (id, content) in SpecialTokens)
        {
            added.Add(new JsonObject
            {
                ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false,
                ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            });
            addedDecoder[id.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = content, ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false,
                ["single_word"] = false, ["special"] = true,
            };
        }
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["ignore_merges"] = false,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(),
            },
        };
        var config = new JsonObject
        {
            ["add_bos_token"] = false,
            ["add_eos_token"] = false,
            ["added_tokens_decoder"] = addedDecoder,
            ["bos_token"] = "<|begin_of_text|>",
            ["eos_token"] = "<|im_end|>",
            ["pad_token"] = "<|pad|>",
            ["unk_token"] = null,
            ["clean_up_tokenization_spaces"] = false,
            ["model_max_length"] = 1_000_000,
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
            ["chat_template"] = chatTemplate ?? ChatMlTemplate,
        };
        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString(options));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString(options));
    }
}
