using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Model.Tokenization.ChatTemplates;
using Microsoft.ML.Tokenizers;

namespace HuatuoAspire.Model.Tokenization;

/// <summary>
/// A Hugging Face byte-level BPE tokenizer (Llama-3.x, Qwen2.x/Qwen3, GPT-2 style) loaded from a model folder,
/// producing the ids <c>tokenizer.encode(text)</c> gives: added tokens are split out first, the rest is
/// normalised, cut by the pre-tokenizer regex, spelt in the byte-level alphabet and merged by
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>; the post-processor's template adds BOS where the model has one.
/// Thread-safe after construction.
/// </summary>
public sealed class HfTokenizer
{
    private const int MaxCachedPieces = 200_000;

    private readonly BpeTokenizer _bpe;
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<int, string> _idToToken;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, int> _addedByContent;
    private readonly AddedTokenMatcher _addedMatcher;
    private readonly NormalizationForm[] _normalization;
    private readonly PreTokenizerPattern? _pattern;
    private readonly bool _addPrefixSpace;
    private readonly bool _ignoreMerges;
    private readonly int[] _prefixIds;
    private readonly int[] _suffixIds;
    private readonly ConcurrentDictionary<string, int[]> _pieceCache = new(StringComparer.Ordinal);
    private readonly Lazy<ChatTemplate?> _chat;

    private HfTokenizer(
        Dictionary<string, int> vocab, IReadOnlyList<string> merges, IReadOnlyList<AddedToken> addedTokens,
        NormalizationForm[] normalization, PreTokenizerPattern? pattern, bool addPrefixSpace, bool ignoreMerges,
        int[] prefixIds, int[] suffixIds)
    {
        _vocab = vocab;
        _bpe = BpeTokenizer.Create(new BpeOptions(vocab) { Merges = merges });
        _normalization = normalization;
        _pattern = pattern;
        _addPrefixSpace = addPrefixSpace;
        _ignoreMerges = ignoreMerges;
        _prefixIds = prefixIds;
        _suffixIds = suffixIds;
        AddedTokens = addedTokens;
        // A repeated entry in added_tokens is legal in tokenizer.json; the last one wins, as in Hugging Face.
        _addedById = new Dictionary<int, AddedToken>();
        _addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in addedTokens)
        {
            _addedById[token.Id] = token;
            _addedByContent[token.Content] = token.Id;
        }
        _addedMatcher = new AddedTokenMatcher(addedTokens);
        _idToToken = new Dictionary<int, string>(vocab.Count + addedTokens.Count);
        foreach (var (token, id) in vocab) _idToToken[id] = token;
        foreach (var token in addedTokens) _idToToken[token.Id] = token.Content;
        VocabSize = _idToToken.Count == 0 ? 0 : _idToToken.Keys.Max() + 1;
        _chat = new Lazy<ChatTemplate?>(() =>
        {
            if (ChatTemplate is null) return null;
            var specials = new Dictionary<string, string>();
            if (BosToken is { } bos) specials["bos_token"] = bos;
            if (EosToken is { } eos) specials["eos_token"] = eos;
            if (PadTokenId is { } pad && IdToToken(pad) is { } padToken) specials["pad_token"] = padToken;
            return new ChatTemplate(ChatTemplate, specials);
        });
    }

    /// <summary>One more than the highest id, counting added tokens (what an embedding matrix needs at least).</summary>
    public int VocabSize { get; }

    /// <summary>The BOS token's id when tokenizer_config.json names one (Llama-3: &lt;|begin_of_text|&gt;), else null.</summary>
    public int? BosTokenId { get; private set; }

    /// <summary>Every id that ends generation: tokenizer_config's eos_token plus generation_config/config eos_token_id.</summary>
    public IReadOnlySet<int> EosTokenIds { get; private set; } = new HashSet<int>();

    public int? PadTokenId { get; private set; }

    /// <summary>The Jinja chat template from tokenizer_config.json, or null when the folder has none.</summary>
    public string? ChatTemplate { get; private set; }

    /// <summary>The parsed <see cref="ChatTemplate"/> source with this tokenizer's special tokens; null when the folder has no template.</summary>
    public ChatTemplate? Chat => _chat.Value;

    /// <summary>The prompt text for <paramref name="messages"/>, as transformers' apply_chat_template(tokenize=False) renders it.</summary>
    public string ApplyChatTemplate(IEnumerable<ChatMessage> messages, bool addGenerationPrompt = true, IReadOnlyDictionary<string, object?>? variables = null) =>
        (Chat ?? throw new InvalidOperationException("This tokenizer's tokenizer_config.json has no chat_template."))
            .Render(messages, addGenerationPrompt, variables);

    /// <summary>
    /// The prompt ids for <paramref name="messages"/>, as apply_chat_template(tokenize=True) gives them: the rendered
    /// text encoded without adding special tokens, since the template writes its own (Llama-3's BOS would double).
    /// </summary>
    public IReadOnlyList<int> EncodeChat(IEnumerable<ChatMessage> messages, bool addGenerationPrompt = true, IReadOnlyDictionary<string, object?>? variables = null) =>
        Encode(ApplyChatTemplate(messages, addGenerationPrompt, variables), addSpecialTokens: false);

    public string? BosToken => BosTokenId is { } id ? IdToToken(id) : null;

    public string? EosToken { get; private set; }

    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>Loads tokenizer.json and tokenizer_config.json (and, for extra EOS ids, generation_config.json and config.json).</summary>
    public static HfTokenizer FromFolder(string dir)
    {
        var tokenizerPath = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(tokenizerPath)) throw new FileNotFoundException($"No tokenizer.json in '{dir}'.", tokenizerPath);
        var tokenizerJson = ReadJson(tokenizerPath);
        var configPath = Path.Combine(dir, "tokenizer_config.json");
        var config = File.Exists(configPath) ? ReadJson(configPath) : new JsonObject();
        var tokenizer = FromJson(tokenizerJson, config, tokenizerPath);

        var eos = new HashSet<int>(tokenizer.EosTokenIds);
        foreach (var name in new[] { "generation_config.json", "config.json" })
        {
            var path = Path.Combine(dir, name);
            if (!File.Exists(path)) continue;
            var node = ReadJson(path)["eos_token_id"];
            if (node is JsonArray array) eos.UnionWith(array.Select(n => n!.GetValue<int>()));
            else if (node is JsonValue value) eos.Add(value.GetValue<int>());
        }
        tokenizer.EosTokenIds = eos;
        return tokenizer;
    }

    /// <summary>Builds a tokenizer from the parsed contents of tokenizer.json and tokenizer_config.json.</summary>
    public static HfTokenizer FromJson(JsonObject tokenizerJson, JsonObject tokenizerConfig, string source = "tokenizer.json")
    {
        var model = tokenizerJson["model"] as JsonObject ?? throw Invalid(source, "has no 'model' object");
        var type = (string?)model["type"];
        if (type != "BPE") throw Invalid(source, $"model.type is '{type}'; only byte-level 'BPE' models are supported");
        if (model["byte_fallback"] is JsonValue fallback && fallback.GetValue<bool>())
            throw Invalid(source, "model.byte_fallback is true (a SentencePiece-style BPE); only byte-level BPE is supported");
        foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model[affix] is JsonValue v && !string.IsNullOrEmpty((string?)v))
                throw Invalid(source, $"model.{affix} is set; byte-level BPE models do not use it");

        var vocabNode = model["vocab"] as JsonObject ?? throw Invalid(source, "model.vocab is missing");
        var vocab = new Dictionary<string, int>(vocabNode.Count, StringComparer.Ordinal);
        foreach (var (token, tokenId) in vocabNode) vocab[token] = tokenId!.GetValue<int>();

        var merges = new List<string>();
        if (model["merges"] is JsonArray mergesNode)
        {
            foreach (var merge in mergesNode)
            {
                merges.Add(merge switch
                {
                    JsonArray pair when pair.Count == 2 => $"{(string?)pair[0]} {(string?)pair[1]}",
                    JsonValue text => (string)text!,
                    _ => throw Invalid(source, $"model.merges[{merges.Count}] is neither \"a b\" nor [\"a\", \"b\"]"),
                });
            }
        }
        var ignoreMerges = model["ignore_merges"] is JsonValue ignore && ignore.GetValue<bool>();

        var added = new List<AddedToken>();
        if (tokenizerJson["added_tokens"] is JsonArray addedNode)
        {
            foreach (var node in addedNode.OfType<JsonObject>())
            {
                if (node["single_word"] is JsonValue sw && sw.GetValue<bool>())
                    throw Invalid(source, $"added token '{node["content"]}' uses single_word, which is not supported");
                added.Add(new AddedToken(
                    node["id"]!.GetValue<int>(), (string)node["content"]!, node["special"]?.GetValue<bool>() ?? false,
                    node["lstrip"]?.GetValue<bool>() ?? false, node["rstrip"]?.GetValue<bool>() ?? false));
            }
        }

        var normalization = ReadNormalizer(tokenizerJson["normalizer"], source);
        var (pattern, addPrefixSpace) = ReadPreTokenizer(tokenizerJson["pre_tokenizer"], source);
        var byContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in added) byContent[token.Content] = token.Id;
        var (prefix, suffix) = ReadPostProcessor(tokenizerJson["post_processor"], source, byContent, vocab);

        var tokenizer = new HfTokenizer(vocab, merges, added, normalization, pattern, addPrefixSpace, ignoreMerges, prefix, suffix);
        tokenizer.ChatTemplate = ReadChatTemplate(tokenizerConfig["chat_template"]);
        tokenizer.BosTokenId = tokenizer.SpecialTokenId(tokenizerConfig["bos_token"], "bos_token");
        var eosId = tokenizer.SpecialTokenId(tokenizerConfig["eos_token"], "eos_token");
        tokenizer.EosToken = eosId is { } e ? tokenizer.IdToToken(e) : null;
        tokenizer.EosTokenIds = eosId is { } eos ? new HashSet<int> { eos } : new HashSet<int>();
        tokenizer.PadTokenId = tokenizer.SpecialTokenId(tokenizerConfig["pad_token"], "pad_token");
        return tokenizer;
    }

    /// <summary>The ids Hugging Face's <c>tokenizer.encode(text, add_special_tokens=...)</c> gives.</summary>
    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens) ids.AddRange(_prefixIds);
        var pieces = new List<string>();
        var position = 0;
        foreach (var (start, end, token) in _addedMatcher.Find(text))
        {
            EncodeOrdinaryText(text[position..start], ids, pieces);
            ids.Add(token.Id);
            position = end;
        }
        EncodeOrdinaryText(text[position..], ids, pieces);
        if (addSpecialTokens) ids.AddRange(_suffixIds);
        return ids;
    }

    /// <summary>The text of <paramref name="ids"/>: byte-level tokens are turned back into UTF-8 (invalid bytes become U+FFFD).</summary>
    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var decoder = CreateStreamDecoder(skipSpecialTokens);
        var text = new StringBuilder();
        foreach (var id in ids) text.Append(decoder.Push(id));
        text.Append(decoder.Flush());
        return text.ToString();
    }

    /// <summary>A decoder that turns ids pushed one at a time into text, holding back incomplete UTF-8 sequences.</summary>
    public TextStreamDecoder CreateStreamDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var added) ? added : _vocab.TryGetValue(token, out var id) ? id : null;

    /// <summary>The vocabulary entry of <paramref name="id"/> (byte-level spelling, e.g. "Ġthe"), or null when no token has that id.</summary>
    public string? IdToToken(int id) => _idToToken.GetValueOrDefault(id);

    /// <summary>
    /// The bytes a token stands for: the UTF-8 of an added token's content, or a byte-level token's bytes (which may be
    /// part of a character). Throws when no token has that id.
    /// </summary>
    public byte[] TokenBytes(int id)
    {
        if (AddedTokenOf(id) is { } added) return Encoding.UTF8.GetBytes(added.Content);
        var token = IdToToken(id) ?? throw new ArgumentOutOfRangeException(nameof(id), id, "No token has this id.");
        var bytes = new byte[token.Length];
        var count = 0;
        foreach (var c in token)
        {
            if (!ByteLevelAlphabet.TryCharToByte(c, out var b))
                throw new InvalidDataException($"Token {id} '{token}' contains '{c}', which is not a byte-level character.");
            bytes[count++] = b;
        }
        return bytes[..count];
    }

    internal AddedToken? AddedTokenOf(int id) => _addedById.GetValueOrDefault(id);

    private void EncodeOrdinaryText(string text, List<int> ids, List<string> pieces)
    {
        if (text.Length == 0) return;
        foreach (var form in _normalization) text = text.Normalize(form);
        // As in the Rust ByteLevel pre-tokenizer: every stretch between added tokens gets the space, unless it has one.
        if (_addPrefixSpace && !text.StartsWith(' ')) text = " " + text;
        pieces.Clear();
        if (_pattern is null) pieces.Add(text);
        else _pattern.Split(text, pieces);
        foreach (var piece in pieces) ids.AddRange(EncodePiece(piece));
    }

    private int[] EncodePiece(string piece)
    {
        var spelled = ByteLevelAlphabet.Encode(piece);
        if (_pieceCache.TryGetValue(spelled, out var cached)) return cached;
        int[] result;
        // ignore_merges (Llama-3): a piece that is itself a vocabulary entry is that entry, whatever the merges say.
        if (_ignoreMerges && _vocab.TryGetValue(spelled, out var whole)) result = [whole];
        else result = _bpe.EncodeToIds(spelled, considerPreTokenization: false, considerNormalization: false).ToArray();
        if (_pieceCache.Count < MaxCachedPieces) _pieceCache.TryAdd(spelled, result);
        return result;
    }

    private int? SpecialTokenId(JsonNode? node, string name)
    {
        var content = node switch
        {
            null => null,
            JsonValue v => (string?)v,
            JsonObject o => (string?)o["content"],
            _ => null,
        };
        if (content is null) return null;
        return TokenToId(content) ?? throw new InvalidDataException($"tokenizer_config.json: {name} '{content}' is not a token of this tokenizer.");
    }

    private static string? ReadChatTemplate(JsonNode? node) => node switch
    {
        null => null,
        JsonValue v => (string?)v,
        // A list of named templates: the one called "default" is what apply_chat_template uses.
        JsonArray list => list.OfType<JsonObject>().Where(t => (string?)t["name"] == "default").Select(t => (string?)t["template"]).FirstOrDefault(),
        _ => null,
    };

    private static NormalizationForm[] ReadNormalizer(JsonNode? node, string source)
    {
        if (node is null) return [];
        var type = (string?)node["type"];
        return type switch
        {
            "NFC" => [NormalizationForm.FormC],
            "NFD" => [NormalizationForm.FormD],
            "NFKC" => [NormalizationForm.FormKC],
            "NFKD" => [NormalizationForm.FormKD],
            "Sequence" => (node["normalizers"] as JsonArray ?? []).SelectMany(n => ReadNormalizer(n, source)).ToArray(),
            _ => throw Invalid(source, $"normalizer type '{type}' is not supported (only NFC/NFD/NFKC/NFKD and Sequence)"),
        };
    }

    private static (PreTokenizerPattern? Pattern, bool AddPrefixSpace) ReadPreTokenizer(JsonNode? node, string source)
    {
        if (node is null) return (null, false);
        var steps = (string?)node["type"] == "Sequence" ? (node["pretokenizers"] as JsonArray ?? []).ToList() : [node];
        PreTokenizerPattern? pattern = null;
        var addPrefixSpace = false;
        var sawByteLevel = false;
        foreach (var step in steps)
        {
            var type = (string?)step!["type"];
            switch (type)
            {
                case "Split":
                    if (pattern is not null) throw Invalid(source, "has more than one Split pre-tokenizer");
                    if ((string?)step["behavior"] != "Isolated" || (step["invert"]?.GetValue<bool>() ?? false))
                        throw Invalid(source, $"Split behaviour '{step["behavior"]}' (invert {step["invert"]}) is not supported; only Isolated");
                    var regex = (string?)step["pattern"]?["Regex"];
                    var literal = (string?)step["pattern"]?["String"];
                    pattern = new PreTokenizerPattern(regex ?? System.Text.RegularExpressions.Regex.Escape(
                        literal ?? throw Invalid(source, "Split pre-tokenizer has no pattern")));
                    break;
                case "ByteLevel":
                    sawByteLevel = true;
                    if (pattern is not null && (step["add_prefix_space"]?.GetValue<bool>() ?? false))
                        throw Invalid(source, "ByteLevel add_prefix_space after a Split (a space before every piece) is not supported");
                    addPrefixSpace = step["add_prefix_space"]?.GetValue<bool>() ?? false;
                    if (step["use_regex"]?.GetValue<bool>() ?? true)
                    {
                        if (pattern is not null) throw Invalid(source, "ByteLevel use_regex after a Split is not supported");
                        pattern = new PreTokenizerPattern(PreTokenizerPattern.Gpt2);
                    }
                    break;
                default:
                    throw Invalid(source, $"pre-tokenizer type '{type}' is not supported (only Split, ByteLevel and Sequence)");
            }
        }
        if (!sawByteLevel) throw Invalid(source, "has no ByteLevel pre-tokenizer; only byte-level BPE is supported");
        return (pattern, addPrefixSpace);
    }

    private static (int[] Prefix, int[] Suffix) ReadPostProcessor(
        JsonNode? node, string source, Dictionary<string, int> added, Dictionary<string, int> vocab)
    {
        if (node is null) return ([], []);
        var type = (string?)node["type"];
        switch (type)
        {
            case "ByteLevel":
                return ([], []); // only adjusts offsets
            case "Sequence":
                var prefix = new List<int>();
                var suffix = new List<int>();
                foreach (var step in node["processors"] as JsonArray ?? [])
                {
                    var (p, s) = ReadPostProcessor(step, source, added, vocab);
                    prefix.AddRange(p);
                    suffix.InsertRange(0, s);
                }
                return (prefix.ToArray(), suffix.ToArray());
            case "TemplateProcessing":
                var before = new List<int>();
                var after = new List<int>();
                var seenSequence = false;
                foreach (var item in node["single"] as JsonArray ?? [])
                {
                    if (item!["Sequence"] is not null) { seenSequence = true; continue; }
                    var name = (string?)item["SpecialToken"]?["id"] ?? throw Invalid(source, "TemplateProcessing item is neither Sequence nor SpecialToken");
                    var ids = node["special_tokens"]?[name]?["ids"] is JsonArray explicitIds
                        ? explicitIds.Select(n => n!.GetValue<int>()).ToArray()
                        : [added.TryGetValue(name, out var a) ? a : vocab.TryGetValue(name, out var v) ? v
                            : throw Invalid(source, $"TemplateProcessing names unknown token '{name}'")];
                    (seenSequence ? after : before).AddRange(ids);
                }
                return (before.ToArray(), after.ToArray());
            default:
                throw Invalid(source, $"post-processor type '{type}' is not supported (only ByteLevel, TemplateProcessing and Sequence)");
        }
    }

    private static JsonObject ReadJson(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonNode.Parse(stream) as JsonObject ?? throw new InvalidDataException($"{path}: the top level is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: invalid JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine}: {e.Message}", e);
        }
    }

    private static NotSupportedException Invalid(string source, string what) => new($"{source}: {what}.");
}
