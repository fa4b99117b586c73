using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Model.Gguf;

/// <summary>
/// A byte-level BPE tokenizer (<c>tokenizer.json</c> + <c>tokenizer_config.json</c>) in llama.cpp's
/// <c>tokenizer.ggml.*</c> form: model "gpt2", the token strings by id, their types, the merges, the special ids.
/// </summary>
public sealed record GgufVocabulary(
    string PreTokenizer,
    IReadOnlyList<string> Tokens,
    IReadOnlyList<int> TokenTypes,
    IReadOnlyList<string> Merges,
    int? BosId,
    int? EosId,
    int? PadId,
    bool AddBos,
    string? ChatTemplate)
{
    // llama.cpp's llama_token_type values.
    public const int Normal = 1;
    public const int Control = 3;
    public const int UserDefined = 4;
    public const int Unused = 5;

    // The pre-tokenizer regexes of the two families, as their tokenizer.json files spell them; llama.cpp knows each
    // by name (llama-vocab.cpp) and reimplements it, so the name must match the regex or llama.cpp splits text differently.
    private const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Qwen2Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Reads the tokenizer files of <paramref name="modelDir"/>; <paramref name="vocabSize"/> (config.json) pads the token list with unused entries.</summary>
    public static GgufVocabulary Load(string modelDir, int vocabSize)
    {
        var tokenizerPath = Path.Combine(modelDir, "tokenizer.json");
        if (!File.Exists(tokenizerPath)) throw new FileNotFoundException($"GGUF export needs '{tokenizerPath}'.", tokenizerPath);
        var tokenizer = ParseObject(tokenizerPath);
        var configPath = Path.Combine(modelDir, "tokenizer_config.json");
        var config = File.Exists(configPath) ? ParseObject(configPath) : new JsonObject();

        var model = tokenizer["model"] as JsonObject ?? throw new InvalidDataException($"'{tokenizerPath}': 'model' is missing.");
        if (model["type"]?.GetValue<string>() != "BPE")
            throw new InvalidDataException($"'{tokenizerPath}': model.type is '{model["type"]}'; GGUF export supports byte-level BPE only.");
        var vocab = model["vocab"] as JsonObject ?? throw new InvalidDataException($"'{tokenizerPath}': model.vocab is missing.");

        var byId = new Dictionary<int, (string Text, int Type)>();
        foreach (var (text, idNode) in vocab)
        {
            var id = idNode!.GetValue<int>();
            if (!byId.TryAdd(id, (text, Normal)))
                throw new InvalidDataException($"'{tokenizerPath}': id {id} is given to both '{byId[id].Text}' and '{text}'.");
        }
        foreach (var added in tokenizer["added_tokens"] as JsonArray ?? [])
        {
            var id = added!["id"]!.GetValue<int>();
            var content = added["content"]!.GetValue<string>();
            var special = added["special"] is JsonValue s && s.GetValue<bool>();
            byId[id] = (content, special ? Control : UserDefined);
        }

        var count = Math.Max(vocabSize, byId.Keys.Max() + 1);
        var tokens = new string[count];
        var types = new int[count];
        for (var id = 0; id < count; id++)
        {
            // Unassigned rows of the embedding (vocab_size rounded up) get placeholder names, as convert_hf_to_gguf does.
            (tokens[id], types[id]) = byId.TryGetValue(id, out var t) ? t : ($"[PAD{id}]", Unused);
        }

        var merges = new List<string>();
        foreach (var merge in model["merges"] as JsonArray ?? [])
        {
            merges.Add(merge switch
            {
                JsonArray { Count: 2 } pair => $"{pair[0]!.GetValue<string>()} {pair[1]!.GetValue<string>()}",
                JsonValue v => v.GetValue<string>(),
                _ => throw new InvalidDataException($"'{tokenizerPath}': a merge is neither \"a b\" nor [\"a\", \"b\"]: {merge?.ToJsonString()}"),
            });
        }

        int? IdOf(string key)
        {
            var text = config[key] switch
            {
                JsonValue v when v.TryGetValue<string>(out var s) => s,
                JsonObject o => o["content"]?.GetValue<string>(),
                _ => null,
            };
            if (text is null) return null;
            var match = byId.Where(kv => kv.Value.Text == text).Select(kv => (int?)kv.Key).FirstOrDefault();
            return match ?? throw new InvalidDataException($"'{configPath}': {key} '{text}' is not in the vocabulary of '{tokenizerPath}'.");
        }
        var bos = IdOf("bos_token");
        var addBos = config["add_bos_token"] is JsonValue ab ? ab.GetValue<bool>() : bos is { } b && PostProcessorStartsWith(tokenizer["post_processor"], tokens[b]);

        return new GgufVocabulary(
            PreTokenizer: DetectPreTokenizer(tokenizer["pre_tokenizer"], merges.Count, tokenizerPath),
            Tokens: tokens,
            TokenTypes: types,
            Merges: merges,
            BosId: bos,
            EosId: IdOf("eos_token"),
            PadId: IdOf("pad_token"),
            AddBos: addBos,
            ChatTemplate: config["chat_template"] is JsonValue ct && ct.TryGetValue<string>(out var template) ? template : null);
    }

    public void AddTo(GgufWriter writer)
    {
        writer.AddMetadata("tokenizer.ggml.model", GgufValue.String("gpt2"));
        writer.AddMetadata("tokenizer.ggml.pre", GgufValue.String(PreTokenizer));
        writer.AddMetadata("tokenizer.ggml.tokens", GgufValue.Strings(Tokens));
        writer.AddMetadata("tokenizer.ggml.token_type", GgufValue.Int32s(TokenTypes));
        writer.AddMetadata("tokenizer.ggml.merges", GgufValue.Strings(Merges));
        if (BosId is { } bos) writer.AddMetadata("tokenizer.ggml.bos_token_id", GgufValue.UInt32((uint)bos));
        if (EosId is { } eos) writer.AddMetadata("tokenizer.ggml.eos_token_id", GgufValue.UInt32((uint)eos));
        if (PadId is { } pad) writer.AddMetadata("tokenizer.ggml.padding_token_id", GgufValue.UInt32((uint)pad));
        writer.AddMetadata("tokenizer.ggml.add_bos_token", GgufValue.Bool(AddBos));
        if (ChatTemplate is not null) writer.AddMetadata("tokenizer.chat_template", GgufValue.String(ChatTemplate));
    }

    private static string DetectPreTokenizer(JsonNode? preTokenizer, int mergeCount, string source)
    {
        var patterns = new List<string>();
        CollectSplitPatterns(preTokenizer, patterns);
        if (patterns.Contains(Llama3Pattern)) return "llama-bpe";
        if (patterns.Contains(Qwen2Pattern)) return "qwen2";
        // Without merges every byte stays its own token, so how text is split first cannot change the ids.
        if (mergeCount == 0) return "default";
        throw new InvalidDataException(
            $"'{source}': the pre-tokenizer ({(patterns.Count == 0 ? "no Split regex" : patterns[0])}) is neither Llama-3's nor Qwen2's; " +
            "llama.cpp would split text differently, so the export refuses it.");
    }

    private static void CollectSplitPatterns(JsonNode? node, List<string> patterns)
    {
        if (node is not JsonObject o) return;
        if (o["type"]?.GetValue<string>() == "Split" && o["pattern"]?["Regex"] is JsonValue regex) patterns.Add(regex.GetValue<string>());
        foreach (var child in o["pretokenizers"] as JsonArray ?? []) CollectSplitPatterns(child, patterns);
    }

    private static bool PostProcessorStartsWith(JsonNode? node, string bosText)
    {
        if (node is not JsonObject o) return false;
        if (o["type"]?.GetValue<string>() == "TemplateProcessing")
            return o["single"] is JsonArray { Count: > 0 } single && single[0]?["SpecialToken"]?["id"]?.GetValue<string>() == bosText;
        return (o["processors"] as JsonArray ?? []).Any(p => PostProcessorStartsWith(p, bosText));
    }

    private static JsonObject ParseObject(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"'{path}' is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e);
        }
    }
}
