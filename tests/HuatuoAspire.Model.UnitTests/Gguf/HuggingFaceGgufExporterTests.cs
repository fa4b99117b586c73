using System.Text.Json.Nodes;
using HuatuoAspire.Model.Gguf;

namespace HuatuoAspire.Model.UnitTests.Gguf;

public sealed class HuggingFaceGgufExporterTests
{
    [Fact]
    public void PermutationInterleavesTheHalvesOfEachHead()
    {
        // 2 heads of dim 4, one column: rows are h0:[a0 a1 b0 b1] h1:[c0 c1 d0 d1] in rotate-halves order.
        float[] rows = [0, 1, 2, 3, 10, 11, 12, 13];
        var permuted = HuggingFaceGgufExporter.PermuteForAdjacentPairRope(rows, rows: 8, heads: 2);
        Assert.Equal([0f, 2, 1, 3, 10, 12, 11, 13], permuted);

        // Whole rows move together.
        float[] wide = [0, 0, 1, 1, 2, 2, 3, 3];
        Assert.Equal([0f, 0, 2, 2, 1, 1, 3, 3], HuggingFaceGgufExporter.PermuteForAdjacentPairRope(wide, rows: 4, heads: 1));
        Assert.Throws<ArgumentException>(() => HuggingFaceGgufExporter.PermuteForAdjacentPairRope(new float[6], rows: 6, heads: 2));
    }

    [Theory]
    [InlineData("model.embed_tokens.weight", "token_embd.weight")]
    [InlineData("model.norm.weight", "output_norm.weight")]
    [InlineData("lm_head.weight", "output.weight")]
    [InlineData("model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight")]
    [InlineData("model.layers.11.self_attn.k_proj.bias", "blk.11.attn_k.bias")]
    [InlineData("model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight")]
    [InlineData("model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight")]
    [InlineData("model.layers.2.mlp.gate_proj.weight", "blk.2.ffn_gate.weight")]
    [InlineData("model.layers.2.mlp.up_proj.weight", "blk.2.ffn_up.weight")]
    [InlineData("model.layers.2.mlp.down_proj.weight", "blk.2.ffn_down.weight")]
    [InlineData("model.layers.31.input_layernorm.weight", "blk.31.attn_norm.weight")]
    [InlineData("model.layers.31.post_attention_layernorm.weight", "blk.31.ffn_norm.weight")]
    public void TensorNamesAreLlamaCpps(string hf, string gguf) =>
        Assert.Equal(gguf, HuggingFaceGgufExporter.GgufTensorName(hf, tiedEmbeddings: false));

    [Fact]
    public void TiedHeadAndRotaryBuffersAreNotExportedAndStrangersAreErrors()
    {
        Assert.Null(HuggingFaceGgufExporter.GgufTensorName("lm_head.weight", tiedEmbeddings: true));
        Assert.Null(HuggingFaceGgufExporter.GgufTensorName("model.layers.0.self_attn.rotary_emb.inv_freq", tiedEmbeddings: false));
        Assert.Contains("model.layers.0.mlp.experts.weight",
            Assert.Throws<InvalidDataException>(() => HuggingFaceGgufExporter.GgufTensorName("model.layers.0.mlp.experts.weight", false)).Message);
        Assert.Contains("vision_tower.x",
            Assert.Throws<InvalidDataException>(() => HuggingFaceGgufExporter.GgufTensorName("vision_tower.x", false)).Message);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    public void ExportWritesLlamaCppMetadataAndTensorLayout(string arch)
    {
        using var checkpoint = TinyCheckpoint.Create(arch);
        var path = Path.Combine(checkpoint.Directory, "model.gguf");
        HuggingFaceGgufExporter.Export(checkpoint.Directory, checkpoint.Source, path, GgmlType.F32);
        var file = GgufFile.Read(path);

        Assert.Equal(arch, file.Metadata["general.architecture"].AsString());
        Assert.Equal((uint)TinyCheckpoint.Layers, file.Metadata[$"{arch}.block_count"].AsUInt32());
        Assert.Equal((uint)TinyCheckpoint.Hidden, file.Metadata[$"{arch}.embedding_length"].AsUInt32());
        Assert.Equal((uint)TinyCheckpoint.Intermediate, file.Metadata[$"{arch}.feed_forward_length"].AsUInt32());
        Assert.Equal((uint)TinyCheckpoint.Heads, file.Metadata[$"{arch}.attention.head_count"].AsUInt32());
        Assert.Equal((uint)TinyCheckpoint.KvHeads, file.Metadata[$"{arch}.attention.head_count_kv"].AsUInt32());
        Assert.Equal((uint)TinyCheckpoint.HeadDim, file.Metadata[$"{arch}.rope.dimension_count"].AsUInt32());
        Assert.Equal(arch == "llama" ? 10000f : 1e6f, file.Metadata[$"{arch}.rope.freq_base"].AsFloat32());
        Assert.Equal("gpt2", file.Metadata["tokenizer.ggml.model"].AsString());
        Assert.Equal(TinyCheckpoint.VocabSize, file.Metadata["tokenizer.ggml.tokens"].AsStrings().Length);

        // Row-major [out, in] is stored unchanged with dims (in, out).
        var embedding = file.Tensor("token_embd.weight");
        Assert.Equal([(ulong)TinyCheckpoint.Hidden, (ulong)TinyCheckpoint.VocabSize], embedding.Dimensions);
        Assert.Equal(checkpoint.Tensors["model.embed_tokens.weight"].Values, file.ReadFloats("token_embd.weight"));
        Assert.Equal(checkpoint.Tensors["model.layers.1.self_attn.v_proj.weight"].Values, file.ReadFloats("blk.1.attn_v.weight"));
        Assert.Equal([(ulong)TinyCheckpoint.Intermediate, (ulong)TinyCheckpoint.Hidden], file.Tensor("blk.0.ffn_down.weight").Dimensions);

        var q = checkpoint.Tensors["model.layers.0.self_attn.q_proj.weight"].Values;
        var exportedQ = file.ReadFloats("blk.0.attn_q.weight");
        if (arch == "llama")
        {
            Assert.Equal(HuggingFaceGgufExporter.PermuteForAdjacentPairRope(q, TinyCheckpoint.Heads * TinyCheckpoint.HeadDim, TinyCheckpoint.Heads), exportedQ);
            Assert.Contains(file.Tensors, t => t.Name == "output.weight");
            Assert.Equal([(ulong)(TinyCheckpoint.HeadDim / 2)], file.Tensor("rope_freqs.weight").Dimensions);
            Assert.DoesNotContain(file.Tensors, t => t.Name.EndsWith(".bias", StringComparison.Ordinal));
        }
        else
        {
            // qwen2 uses NEOX (rotate-halves) rope in llama.cpp: Q/K and their biases stay in Hugging Face order.
            Assert.Equal(q, exportedQ);
            Assert.Equal(checkpoint.Tensors["model.layers.0.self_attn.k_proj.bias"].Values, file.ReadFloats("blk.0.attn_k.bias"));
            Assert.DoesNotContain(file.Tensors, t => t.Name is "output.weight" or "rope_freqs.weight");
        }
        Assert.Equal(TinyCheckpoint.Layers * (arch == "llama" ? 9 : 12) + (arch == "llama" ? 4 : 2), file.Tensors.Count);
    }

    [Fact]
    public void Llama3RopeFactorsMatchLlamaCppsConverterForLlama31()
    {
        // Llama-3.1-8B: head_dim 128, rope_theta 500000, factor 8, low 1, high 4, original context 8192.
        var config = GgufModelConfig.FromJson(new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"), ["hidden_size"] = 4096, ["intermediate_size"] = 14336,
            ["num_hidden_layers"] = 32, ["num_attention_heads"] = 32, ["num_key_value_heads"] = 8, ["max_position_embeddings"] = 131072,
            ["vocab_size"] = 128256, ["rope_theta"] = 500000.0,
            ["rope_scaling"] = new JsonObject
            {
                ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0,
                ["original_max_position_embeddings"] = 8192,
            },
        }, "Llama-3.1-8B config");
        var factors = config.Llama3RopeFrequencyFactors()!;
        Assert.Equal(64, factors.Length);
        // Values from convert_hf_to_gguf's formula evaluated independently (Python, float32 inverse frequencies):
        // pairs 0..28 keep their frequency, 29..34 are smoothed, 35..63 are divided by the full factor.
        Assert.All(factors[..29], f => Assert.Equal(1f, f));
        float[] smoothed = [1.2074840f, 1.5534146f, 2.0263131f, 2.6945300f, 3.6842530f, 5.2573266f];
        for (var i = 0; i < smoothed.Length; i++) Assert.Equal(smoothed[i], factors[29 + i], 5);
        Assert.All(factors[35..], f => Assert.Equal(8f, f));
        Assert.True(factors.Zip(factors.Skip(1)).All(p => p.First <= p.Second));
    }

    [Fact]
    public void MissingTensorsAndUnsupportedArchitecturesAreNamed()
    {
        using var checkpoint = TinyCheckpoint.Create("qwen2");
        checkpoint.Tensors.Remove("model.layers.1.self_attn.q_proj.bias");
        var source = new InMemoryTensorSource(checkpoint.Tensors);
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceGgufExporter.CreateWriter(checkpoint.Directory, source, GgmlType.F32));
        Assert.Contains("model.layers.1.self_attn.q_proj.bias", error.Message);

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint.Directory, "config.json")))!.AsObject();
        config["architectures"] = new JsonArray("MistralForCausalLM");
        File.WriteAllText(Path.Combine(checkpoint.Directory, "config.json"), config.ToJsonString());
        Assert.Contains("MistralForCausalLM",
            Assert.Throws<InvalidDataException>(() => HuggingFaceGgufExporter.CreateWriter(checkpoint.Directory, source, GgmlType.F32)).Message);
    }
}
