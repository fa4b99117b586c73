using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Model.Gguf;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Model.UnitTests.Gguf;

/// <summary>
/// A tiny Hugging Face Llama or Qwen2 folder (config, byte-level tokenizer) with seeded random weights held in memory,
/// shaped so that every export rule is exercised: grouped-query attention, Llama-3 rope scaling (llama), q/k/v biases
/// and tied embeddings (qwen2).
/// </summary>
public sealed class TinyCheckpoint : IDisposable
{
    public const int VocabSize = ByteLevelTokenizer.VocabSize;
    public const int Hidden = 64;
    public const int Heads = 4;
    public const int KvHeads = 2;
    public const int HeadDim = Hidden / Heads;
    public const int Intermediate = 96;
    public const int Layers = 2;

    private TinyCheckpoint(string directory, string arch, JsonObject config, Dictionary<string, (long[] Shape, float[] Values)> tensors)
    {
        Directory = directory;
        Architecture = arch;
        Config = config;
        Tensors = tensors;
        Source = new InMemoryTensorSource(tensors);
    }

    public string Directory { get; }
    public string Architecture { get; }
    public JsonObject Config { get; }
    public Dictionary<string, (long[] Shape, float[] Values)> Tensors { get; }
    public InMemoryTensorSource Source { get; }

    public GgufModelConfig ModelConfig => GgufModelConfig.FromJson(Config, "tiny");

    /// <param name="arch">llama, qwen2, or llama-bias (a Llama with q/k/v/o biases, <c>attention_bias: true</c>).</param>
    public static TinyCheckpoint Create(string arch, int seed = 1)
    {
        var attentionBias = arch == "llama-bias";
        if (attentionBias) arch = "llama";
        var llama = arch == "llama";
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(llama ? "LlamaForCausalLM" : "Qwen2ForCausalLM"),
            ["model_type"] = arch,
            ["hidden_size"] = Hidden,
            ["intermediate_size"] = Intermediate,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["num_key_value_heads"] = KvHeads,
            ["max_position_embeddings"] = 256,
            ["vocab_size"] = VocabSize,
            ["rms_norm_eps"] = llama ? 1e-5 : 1e-6,
            ["rope_theta"] = llama ? 10000.0 : 1000000.0,
            ["tie_word_embeddings"] = !llama,
            ["bos_token_id"] = 256,
            ["eos_token_id"] = 257,
            ["attention_bias"] = attentionBias,
        };
        if (llama)
        {
            // Small original context so all three llama3 regimes (unscaled, smoothed, scaled) occur at head_dim 16.
            config["rope_scaling"] = new JsonObject
            {
                ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0,
                ["original_max_position_embeddings"] = 256,
            };
        }

        var random = new Random(seed);
        var tensors = new Dictionary<string, (long[] Shape, float[] Values)>();
        void Add(string name, float scale, params long[] shape)
        {
            var n = shape.Aggregate(1L, (a, b) => a * b);
            // Wide weights give logits of order 1, so greedy choices are decided by clear margins.
            var values = new float[n];
            for (var i = 0; i < n; i++) values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
            tensors[name] = (shape, values);
        }
        void AddNorm(string name)
        {
            var values = new float[Hidden];
            for (var i = 0; i < Hidden; i++) values[i] = (float)(0.8 + 0.4 * random.NextDouble());
            tensors[name] = ([Hidden], values);
        }

        Add("model.embed_tokens.weight", 1.0f, VocabSize, Hidden);
        for (var l = 0; l < Layers; l++)
        {
            var p = $"model.layers.{l}.";
            Add(p + "self_attn.q_proj.weight", 0.35f, Heads * HeadDim, Hidden);
            Add(p + "self_attn.k_proj.weight", 0.35f, KvHeads * HeadDim, Hidden);
            Add(p + "self_attn.v_proj.weight", 0.2f, KvHeads * HeadDim, Hidden);
            Add(p + "self_attn.o_proj.weight", 0.2f, Hidden, Heads * HeadDim);
            if (!llama || attentionBias)
            {
                Add(p + "self_attn.q_proj.bias", 0.3f, Heads * HeadDim);
                Add(p + "self_attn.k_proj.bias", 0.3f, KvHeads * HeadDim);
                Add(p + "self_attn.v_proj.bias", 0.3f, KvHeads * HeadDim);
            }
            if (attentionBias) Add(p + "self_attn.o_proj.bias", 0.3f, Hidden);
            Add(p + "mlp.gate_proj.weight", 0.2f, Intermediate, Hidden);
            Add(p + "mlp.up_proj.weight", 0.2f, Intermediate, Hidden);
            Add(p + "mlp.down_proj.weight", 0.2f, Hidden, Intermediate);
            AddNorm(p + "input_layernorm.weight");
            AddNorm(p + "post_attention_layernorm.weight");
        }
        AddNorm("model.norm.weight");
        if (llama) Add("lm_head.weight", 0.4f, VocabSize, Hidden);

        var directory = Path.Combine(Path.GetTempPath(), $"huatuo-gguf-{arch}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        ByteLevelTokenizer.WriteFolder(directory);
        return new TinyCheckpoint(directory, arch, config, tensors);
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
