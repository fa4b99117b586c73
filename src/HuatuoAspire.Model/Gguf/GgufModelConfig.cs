using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Model.Gguf;

/// <summary>
/// The fields of a Hugging Face <c>config.json</c> that the GGUF export writes as <c>{arch}.*</c> metadata,
/// with the defaults transformers applies when a field is absent.
/// </summary>
public sealed record GgufModelConfig(
    string Architecture,
    int HiddenSize,
    int IntermediateSize,
    int LayerCount,
    int HeadCount,
    int KeyValueHeadCount,
    int HeadDim,
    int ContextLength,
    int VocabSize,
    double RmsNormEps,
    double RopeTheta,
    bool TieWordEmbeddings,
    JsonObject? RopeScaling)
{
    /// <summary>The llama.cpp architecture name for each supported Hugging Face model class.</summary>
    public static readonly IReadOnlyDictionary<string, string> ArchitectureByHfClass = new Dictionary<string, string>
    {
        ["LlamaForCausalLM"] = "llama",
        ["Qwen2ForCausalLM"] = "qwen2",
    };

    public static GgufModelConfig Load(string configPath)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject
                ?? throw new InvalidDataException($"'{configPath}' is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{configPath}' is not valid JSON: {e.Message}", e);
        }
        return FromJson(json, configPath);
    }

    public static GgufModelConfig FromJson(JsonObject json, string source)
    {
        var hfClass = json["architectures"] is JsonArray { Count: > 0 } a ? a[0]?.GetValue<string>() : null;
        if (hfClass is null || !ArchitectureByHfClass.TryGetValue(hfClass, out var arch))
            throw new InvalidDataException(
                $"'{source}': architectures[0] is '{hfClass ?? "missing"}'; GGUF export supports {string.Join(", ", ArchitectureByHfClass.Keys)}.");

        int Int(string key, int? fallback = null) => json[key] is JsonValue v
            ? v.GetValue<int>()
            : fallback ?? throw new InvalidDataException($"'{source}': '{key}' is missing.");
        double Double(string key, double fallback) => json[key] is JsonValue v ? Number(v) : fallback;

        var hidden = Int("hidden_size");
        var heads = Int("num_attention_heads");
        if (hidden % heads != 0 && json["head_dim"] is null)
            throw new InvalidDataException($"'{source}': hidden_size {hidden} is not a multiple of num_attention_heads {heads} and head_dim is not given.");
        var ropeScaling = json["rope_scaling"] as JsonObject;
        return new GgufModelConfig(
            Architecture: arch,
            HiddenSize: hidden,
            IntermediateSize: Int("intermediate_size"),
            LayerCount: Int("num_hidden_layers"),
            HeadCount: heads,
            KeyValueHeadCount: Int("num_key_value_heads", heads),
            HeadDim: Int("head_dim", hidden / heads),
            ContextLength: Int("max_position_embeddings"),
            VocabSize: Int("vocab_size"),
            RmsNormEps: Double("rms_norm_eps", 1e-6),
            RopeTheta: Double("rope_theta", 10000.0),
            TieWordEmbeddings: json["tie_word_embeddings"] is JsonValue t && t.GetValue<bool>(),
            RopeScaling: ropeScaling);
    }

    /// <summary>
    /// Llama-3 frequency scaling as llama.cpp applies it: one divisor per rotary pair (the <c>rope_freqs.weight</c>
    /// tensor), equal to the ratio by which transformers' <c>_compute_llama3_parameters</c> shrinks each inverse frequency.
    /// Null when the config has no llama3 rope scaling.
    /// </summary>
    public float[]? Llama3RopeFrequencyFactors()
    {
        if (RopeScaling is null || RopeType(RopeScaling) != "llama3") return null;
        double Get(string key, double fallback) => RopeScaling[key] is JsonValue v ? Number(v) : fallback;
        var factor = Get("factor", 8.0);
        var lowFreqFactor = Get("low_freq_factor", 1.0);
        var highFreqFactor = Get("high_freq_factor", 4.0);
        var oldContext = Get("original_max_position_embeddings", 8192);
        var lowFreqWavelen = oldContext / lowFreqFactor;
        var highFreqWavelen = oldContext / highFreqFactor;
        var factors = new float[HeadDim / 2];
        for (var i = 0; i < factors.Length; i++)
        {
            // transformers computes inv_freq in float32; matching that keeps the thresholds on the same side.
            var invFreq = (double)(float)(1.0 / Math.Pow(RopeTheta, 2.0 * i / HeadDim));
            var wavelen = 2 * Math.PI / invFreq;
            if (wavelen < highFreqWavelen) factors[i] = 1f;
            else if (wavelen > lowFreqWavelen) factors[i] = (float)factor;
            else
            {
                var smooth = (oldContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                factors[i] = (float)(1 / ((1 - smooth) / factor + smooth));
            }
        }
        return factors;
    }

    /// <summary>A JSON number as double, whether it was written as an integer or not.</summary>
    public static double Number(JsonNode node) =>
        double.Parse(node.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);

    public static string? RopeType(JsonObject ropeScaling) =>
        (ropeScaling["rope_type"] ?? ropeScaling["type"])?.GetValue<string>();
}
