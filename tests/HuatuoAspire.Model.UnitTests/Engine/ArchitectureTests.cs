using System.Text.Json;
using HuatuoAspire.Model;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>
/// The real 8B/7B architectures, built on the meta device (no memory, no download), have exactly the parameter names
/// and shapes of the published checkpoints.
/// </summary>
public sealed class ArchitectureTests
{
    // config.json of meta-llama/Llama-3.1-8B-Instruct (the base of HuatuoGPT-o1-8B).
    private const string Llama31_8B = """
        {"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":128256,"hidden_size":4096,
         "intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,
         "max_position_embeddings":131072,"rms_norm_eps":1e-05,"rope_theta":500000.0,"tie_word_embeddings":false,
         "attention_bias":false,"mlp_bias":false,"hidden_act":"silu","bos_token_id":128000,"eos_token_id":[128001,128008,128009],
         "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
         "torch_dtype":"bfloat16"}
        """;

    // config.json of Qwen/Qwen2.5-7B-Instruct (the base of HuatuoGPT-o1-7B).
    private const string Qwen25_7B = """
        {"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","vocab_size":152064,"hidden_size":3584,
         "intermediate_size":18944,"num_hidden_layers":28,"num_attention_heads":28,"num_key_value_heads":4,
         "max_position_embeddings":32768,"rms_norm_eps":1e-06,"rope_theta":1000000.0,"tie_word_embeddings":false,
         "hidden_act":"silu","bos_token_id":151643,"eos_token_id":151645,"torch_dtype":"bfloat16"}
        """;

    [Fact]
    public void Llama31_8BHasTheCheckpointLayout()
    {
        var config = JsonSerializer.Deserialize<ModelConfig>(Llama31_8B, ModelConfig.JsonOptions)!;
        using var model = new CausalLanguageModel(config, new ModelPlacement(device("meta"), ScalarType.BFloat16));
        var shapes = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);

        Assert.Equal(32 * 9 + 3, shapes.Count);
        Assert.Equal([128256L, 4096], shapes["model.embed_tokens.weight"]);
        Assert.Equal([4096L, 4096], shapes["model.layers.31.self_attn.q_proj.weight"]);
        Assert.Equal([1024L, 4096], shapes["model.layers.31.self_attn.k_proj.weight"]);
        Assert.Equal([1024L, 4096], shapes["model.layers.0.self_attn.v_proj.weight"]);
        Assert.Equal([4096L, 4096], shapes["model.layers.0.self_attn.o_proj.weight"]);
        Assert.Equal([14336L, 4096], shapes["model.layers.0.mlp.gate_proj.weight"]);
        Assert.Equal([14336L, 4096], shapes["model.layers.0.mlp.up_proj.weight"]);
        Assert.Equal([4096L, 14336], shapes["model.layers.0.mlp.down_proj.weight"]);
        Assert.Equal([4096L], shapes["model.layers.0.input_layernorm.weight"]);
        Assert.Equal([4096L], shapes["model.layers.0.post_attention_layernorm.weight"]);
        Assert.Equal([4096L], shapes["model.norm.weight"]);
        Assert.Equal([128256L, 4096], shapes["lm_head.weight"]);
        Assert.DoesNotContain(shapes.Keys, k => k.EndsWith(".bias", StringComparison.Ordinal));
        Assert.Equal(8_030_261_248L, model.ParameterCount);
    }

    [Fact]
    public void Qwen25_7BHasTheCheckpointLayoutWithQkvBiases()
    {
        var config = JsonSerializer.Deserialize<ModelConfig>(Qwen25_7B, ModelConfig.JsonOptions)!;
        using var model = new CausalLanguageModel(config, new ModelPlacement(device("meta"), ScalarType.BFloat16));
        var shapes = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);

        Assert.Equal(28 * 12 + 3, shapes.Count);
        Assert.Equal([3584L], shapes["model.layers.0.self_attn.q_proj.bias"]);
        Assert.Equal([512L], shapes["model.layers.0.self_attn.k_proj.bias"]);
        Assert.Equal([512L], shapes["model.layers.27.self_attn.v_proj.bias"]);
        Assert.DoesNotContain("model.layers.0.self_attn.o_proj.bias", shapes.Keys);
        Assert.Equal([152064L, 3584], shapes["lm_head.weight"]);
        Assert.Equal(7_615_616_512L, model.ParameterCount);
    }

    [Fact]
    public void Llama3RopeScalingMatchesTheReferenceFormula()
    {
        var config = JsonSerializer.Deserialize<ModelConfig>(Llama31_8B, ModelConfig.JsonOptions)!;
        var inv = HuatuoAspire.Model.Modules.RotaryEmbedding.ComputeInverseFrequencies(config);
        Assert.Equal(64, inv.Length);
        // High frequencies are unchanged, low frequencies are divided by the factor (8), the middle band is blended.
        Assert.Equal(1.0, inv[0], 6);
        var plain = 1.0 / Math.Pow(500000, 2.0 * 63 / 128);
        Assert.Equal(plain / 8, inv[63], 12);
        var wavelen = 2 * Math.PI / (1.0 / Math.Pow(500000, 2.0 * 30 / 128));
        Assert.True(wavelen > 8192 / 4.0 && wavelen < 8192 / 1.0, "index 30 lies in the blended band");
        Assert.True(inv[30] < 1.0 / Math.Pow(500000, 2.0 * 30 / 128) && inv[30] > 1.0 / Math.Pow(500000, 2.0 * 30 / 128) / 8);
    }
}
