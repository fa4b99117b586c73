using System.Text.Json;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>
/// The SFT form's defaults for the model chosen: the reference recipe (batch 128, length 8192) suits an 8B model on
/// GPUs, not the tiny CPU model a newcomer starts with, where it would take hours per step. The size is estimated from
/// the folder's <c>config.json</c> (embeddings, attention and MLP weights).
/// </summary>
public sealed record SftDefaults(string Description, int Epochs, double LearningRate, int BatchSize, int MicroBatchSize, int MaxSeqLen, int SaveEvery)
{
    public static readonly SftDefaults Reference = new("the paper's recipe for an 8B model on GPUs", 3, 5e-6, 128, 4, 8192, 50);
    public static readonly SftDefaults Small = new("a model under a billion parameters", 3, 2e-5, 16, 2, 2048, 50);
    public static readonly SftDefaults Tiny = new("a tiny model that trains on a CPU", 3, 1e-4, 8, 2, 512, 20);

    /// <summary>The defaults for the model folder; the reference recipe when its size cannot be read.</summary>
    public static (SftDefaults Defaults, long? Parameters) For(string? modelFolder)
    {
        var parameters = modelFolder is null ? null : ParameterCount(Path.Combine(modelFolder, "config.json"));
        var defaults = parameters switch
        {
            null => Reference,
            < 50_000_000 => Tiny,
            < 1_000_000_000 => Small,
            _ => Reference,
        };
        return (defaults, parameters);
    }

    /// <summary>An estimate from a Hugging Face <c>config.json</c> (Llama / Qwen2 fields); null when absent or unreadable.</summary>
    internal static long? ParameterCount(string configPath)
    {
        try
        {
            if (!File.Exists(configPath)) return null;
            using var json = JsonDocument.Parse(File.ReadAllText(configPath));
            var c = json.RootElement;
            long Get(string name, long fallback) => c.TryGetProperty(name, out var v) && v.TryGetInt64(out var n) ? n : fallback;
            var hidden = Get("hidden_size", 0);
            var layers = Get("num_hidden_layers", 0);
            if (hidden <= 0 || layers <= 0) return null;
            var vocab = Get("vocab_size", 0);
            var intermediate = Get("intermediate_size", 4 * hidden);
            var heads = Math.Max(1, Get("num_attention_heads", 1));
            var kvHeads = Get("num_key_value_heads", heads);
            var headDim = Get("head_dim", hidden / heads);
            var attention = 2 * hidden * heads * headDim + 2 * hidden * kvHeads * headDim;
            var tied = c.TryGetProperty("tie_word_embeddings", out var t) && t.ValueKind == JsonValueKind.True;
            return vocab * hidden * (tied ? 1 : 2) + layers * (attention + 3 * hidden * intermediate);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
