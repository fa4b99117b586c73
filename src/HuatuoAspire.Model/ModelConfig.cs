using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace HuatuoAspire.Model;

/// <summary>Llama-3 style RoPE frequency scaling (<c>rope_scaling</c> with <c>rope_type</c> "llama3").</summary>
public sealed record RopeScaling(
    [property: JsonPropertyName("rope_type")] string RopeType,
    [property: JsonPropertyName("factor")] double Factor,
    [property: JsonPropertyName("low_freq_factor")] double LowFreqFactor,
    [property: JsonPropertyName("high_freq_factor")] double HighFreqFactor,
    [property: JsonPropertyName("original_max_position_embeddings")] int OriginalMaxPositionEmbeddings);

/// <summary>
/// A decoder-only transformer as a Hugging Face <c>config.json</c> describes it, with the field names of that file.
/// <c>LlamaForCausalLM</c> and <c>Qwen2ForCausalLM</c> are the two architectures: Qwen2 is Llama with q/k/v biases.
/// </summary>
public sealed record ModelConfig
{
    public const string LlamaArchitecture = "LlamaForCausalLM";
    public const string Qwen2Architecture = "Qwen2ForCausalLM";

    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = [LlamaArchitecture];
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llama";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }
    [JsonPropertyName("head_dim")] public int? HeadDimension { get; init; }
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000;
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("attention_bias")] public bool? AttentionBias { get; init; }
    [JsonPropertyName("mlp_bias")] public bool MlpBias { get; init; }
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("bos_token_id")] public JsonNode? BosTokenIdNode { get; init; }
    [JsonPropertyName("eos_token_id")] public JsonNode? EosTokenIdNode { get; init; }
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; init; }
    [JsonPropertyName("num_labels")] public int? NumLabels { get; init; }

    [JsonIgnore] public string Architecture => Architectures.FirstOrDefault() ?? LlamaArchitecture;
    [JsonIgnore] public bool IsQwen2 => Architecture.StartsWith("Qwen2", StringComparison.Ordinal) || ModelType == "qwen2";
    [JsonIgnore] public int KeyValueHeads => NumKeyValueHeads ?? NumAttentionHeads;
    [JsonIgnore] public int HeadDim => HeadDimension ?? HiddenSize / NumAttentionHeads;
    /// <summary>Qwen2 has biases on q/k/v (not on o); Llama has them only when <c>attention_bias</c> says so.</summary>
    [JsonIgnore] public bool QkvBias => AttentionBias ?? IsQwen2;
    [JsonIgnore] public bool OutputBias => !IsQwen2 && (AttentionBias ?? false);
    [JsonIgnore] public int? BosTokenId => BosTokenIdNode is JsonValue v && v.TryGetValue<int>(out var id) ? id : null;

    [JsonIgnore]
    public IReadOnlyList<int> EosTokenIds => EosTokenIdNode switch
    {
        JsonArray a => a.Select(n => n!.GetValue<int>()).ToArray(),
        JsonValue v when v.TryGetValue<int>(out var id) => [id],
        _ => [],
    };

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static ModelConfig Load(string modelDirectory)
    {
        var path = Path.Combine(modelDirectory, "config.json");
        if (!File.Exists(path)) throw new ModelFormatException($"{path} does not exist: a model folder needs a Hugging Face config.json.");
        ModelConfig config;
        try
        {
            config = JsonSerializer.Deserialize<ModelConfig>(File.ReadAllText(path), JsonOptions)
                     ?? throw new ModelFormatException($"{path} is empty.");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{path} is not valid JSON: {e.Message}");
        }
        config.Validate(path);
        return config;
    }

    public void Save(string modelDirectory)
    {
        Directory.CreateDirectory(modelDirectory);
        File.WriteAllText(Path.Combine(modelDirectory, "config.json"), JsonSerializer.Serialize(this, JsonOptions));
    }

    public void Validate(string source = "config")
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new ModelFormatException($"{source}: {what}");
        }
        Require(Architecture is LlamaArchitecture or Qwen2Architecture
                    or "LlamaForSequenceClassification" or "Qwen2ForSequenceClassification",
            $"architecture '{Architecture}' is not supported (LlamaForCausalLM, Qwen2ForCausalLM).");
        Require(VocabSize > 0 && HiddenSize > 0 && IntermediateSize > 0 && NumHiddenLayers > 0 && NumAttentionHeads > 0,
            "vocab_size, hidden_size, intermediate_size, num_hidden_layers and num_attention_heads must be positive.");
        Require(NumAttentionHeads % KeyValueHeads == 0, "num_attention_heads must be a multiple of num_key_value_heads.");
        Require(HeadDim % 2 == 0, "the head dimension must be even (rotary embeddings rotate pairs).");
        Require(HiddenAct == "silu", $"hidden_act '{HiddenAct}' is not supported (silu).");
        Require(RopeScaling is null || RopeScaling.RopeType is "llama3" or "default",
            $"rope_scaling.rope_type '{RopeScaling?.RopeType}' is not supported (llama3).");
    }
}

/// <summary>A model folder or checkpoint file is not what it claims to be; the message names the file and the problem.</summary>
public sealed class ModelFormatException(string message) : Exception(message);
