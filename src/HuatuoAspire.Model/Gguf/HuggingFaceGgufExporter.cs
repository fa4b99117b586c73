using System.Text.RegularExpressions;

namespace HuatuoAspire.Model.Gguf;

/// <summary>
/// Converts a Hugging Face Llama / Qwen2 checkpoint into a GGUF file that llama.cpp (and Ollama) load:
/// llama.cpp's tensor names, its metadata keys, its Q/K row order for the <c>llama</c> architecture, and
/// Llama-3 rope scaling as the <c>rope_freqs.weight</c> tensor.
/// </summary>
public static partial class HuggingFaceGgufExporter
{
    /// <summary>Writes <paramref name="outPath"/> from a Hugging Face folder: config.json, tokenizer files and safetensors.</summary>
    public static void Export(string modelDir, string outPath, GgmlType dtype, IProgress<(long Written, long Total)>? progress = null)
    {
        using var checkpoint = Checkpoints.HuggingFaceCheckpoint.Open(modelDir);
        Export(modelDir, new SafeTensorsCheckpointSource(checkpoint), outPath, dtype, progress);
    }

    /// <summary>Writes <paramref name="outPath"/> from the folder's config and tokenizer files and the checkpoint's tensors.</summary>
    public static void Export(string modelDir, ICheckpointTensorSource tensors, string outPath, GgmlType dtype,
        IProgress<(long Written, long Total)>? progress = null)
    {
        var writer = CreateWriter(modelDir, tensors, dtype);
        writer.WriteTo(outPath, progress);
    }

    public static GgufWriter CreateWriter(string modelDir, ICheckpointTensorSource tensors, GgmlType dtype)
    {
        var configPath = Path.Combine(modelDir, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"GGUF export needs '{configPath}'.", configPath);
        var config = GgufModelConfig.Load(configPath);
        var vocabulary = GgufVocabulary.Load(modelDir, config.VocabSize);

        var writer = new GgufWriter();
        AddModelMetadata(writer, config, Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd(Path.DirectorySeparatorChar)), dtype);
        vocabulary.AddTo(writer);
        AddTensors(writer, config, tensors, dtype, vocabulary.Tokens.Count);
        return writer;
    }

    public static void AddModelMetadata(GgufWriter writer, GgufModelConfig config, string name, GgmlType dtype)
    {
        var arch = config.Architecture;
        writer.AddMetadata("general.architecture", GgufValue.String(arch));
        writer.AddMetadata("general.name", GgufValue.String(name));
        // llama_ftype: 0 = all F32, 1 = mostly F16, 7 = mostly Q8_0, 32 = mostly BF16 (1-D tensors stay F32).
        writer.AddMetadata("general.file_type", GgufValue.UInt32(dtype switch { GgmlType.F16 => 1u, GgmlType.Q8_0 => 7u, GgmlType.BF16 => 32u, _ => 0u }));
        writer.AddMetadata($"{arch}.vocab_size", GgufValue.UInt32((uint)config.VocabSize));
        writer.AddMetadata($"{arch}.context_length", GgufValue.UInt32((uint)config.ContextLength));
        writer.AddMetadata($"{arch}.embedding_length", GgufValue.UInt32((uint)config.HiddenSize));
        writer.AddMetadata($"{arch}.block_count", GgufValue.UInt32((uint)config.LayerCount));
        writer.AddMetadata($"{arch}.feed_forward_length", GgufValue.UInt32((uint)config.IntermediateSize));
        writer.AddMetadata($"{arch}.attention.head_count", GgufValue.UInt32((uint)config.HeadCount));
        writer.AddMetadata($"{arch}.attention.head_count_kv", GgufValue.UInt32((uint)config.KeyValueHeadCount));
        writer.AddMetadata($"{arch}.attention.layer_norm_rms_epsilon", GgufValue.Float32((float)config.RmsNormEps));
        writer.AddMetadata($"{arch}.rope.freq_base", GgufValue.Float32((float)config.RopeTheta));
        writer.AddMetadata($"{arch}.rope.dimension_count", GgufValue.UInt32((uint)config.HeadDim));
        if (config.HeadDim * config.HeadCount != config.HiddenSize)
        {
            writer.AddMetadata($"{arch}.attention.key_length", GgufValue.UInt32((uint)config.HeadDim));
            writer.AddMetadata($"{arch}.attention.value_length", GgufValue.UInt32((uint)config.HeadDim));
        }
        if (config.RopeScaling is { } scaling)
        {
            switch (GgufModelConfig.RopeType(scaling))
            {
                case "llama3" or "default" or null:
                    break; // llama3 travels as the rope_freqs.weight tensor; "default" means no scaling.
                case "linear":
                    writer.AddMetadata($"{arch}.rope.scaling.type", GgufValue.String("linear"));
                    writer.AddMetadata($"{arch}.rope.scaling.factor", GgufValue.Float32((float)GgufModelConfig.Number(scaling["factor"]!)));
                    break;
                case var other:
                    throw new NotSupportedException($"GGUF export does not support rope_scaling type '{other}' (supported: llama3, linear).");
            }
        }
    }

    /// <summary>llama.cpp's name for a Hugging Face state-dict key, or null for keys that are not exported (tied lm_head, rotary buffers).</summary>
    public static string? GgufTensorName(string hfName, bool tiedEmbeddings)
    {
        switch (hfName)
        {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return tiedEmbeddings ? null : "output.weight";
        }
        if (hfName.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)) return null;
        var m = LayerKey().Match(hfName);
        if (!m.Success) throw new InvalidDataException($"checkpoint tensor '{hfName}' has no GGUF counterpart for llama/qwen2.");
        var part = m.Groups["part"].Value switch
        {
            "self_attn.q_proj" => "attn_q",
            "self_attn.k_proj" => "attn_k",
            "self_attn.v_proj" => "attn_v",
            "self_attn.o_proj" => "attn_output",
            "mlp.gate_proj" => "ffn_gate",
            "mlp.up_proj" => "ffn_up",
            "mlp.down_proj" => "ffn_down",
            "input_layernorm" => "attn_norm",
            "post_attention_layernorm" => "ffn_norm",
            var other => throw new InvalidDataException($"checkpoint tensor '{hfName}': '{other}' has no GGUF counterpart for llama/qwen2."),
        };
        return $"blk.{m.Groups["layer"].Value}.{part}.{m.Groups["kind"].Value}";
    }

    /// <summary>
    /// Reorders the rows of a q_proj/k_proj weight (or bias) for llama.cpp's <c>llama</c> rope, which rotates adjacent
    /// pairs (x[2i], x[2i+1]) where transformers rotates halves (x[i], x[i+d/2]): within each head, row j·(d/2)+i moves to 2i+j.
    /// </summary>
    public static float[] PermuteForAdjacentPairRope(float[] values, int rows, int heads)
    {
        if (rows % heads != 0 || rows / heads % 2 != 0)
            throw new ArgumentException($"cannot split {rows} rows into {heads} heads of even size.");
        var headDim = rows / heads;
        var half = headDim / 2;
        var columns = values.Length / rows;
        var result = new float[values.Length];
        for (var h = 0; h < heads; h++)
        for (var i = 0; i < half; i++)
        for (var j = 0; j < 2; j++)
        {
            var from = h * headDim + j * half + i;
            var to = h * headDim + 2 * i + j;
            Array.Copy(values, from * columns, result, to * columns, columns);
        }
        return result;
    }

    private static void AddTensors(GgufWriter writer, GgufModelConfig config, ICheckpointTensorSource tensors, GgmlType dtype, int vocabRows)
    {
        var names = tensors.Names;
        var expected = ExpectedHfNames(config).ToHashSet(StringComparer.Ordinal);
        var missing = expected.Where(n => !names.Contains(n)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"checkpoint lacks {missing.Count} tensor(s) the {config.Architecture} export needs: {string.Join(", ", missing.Take(8))}{(missing.Count > 8 ? ", …" : "")}.");

        if (config.Llama3RopeFrequencyFactors() is { } factors)
            writer.AddTensor("rope_freqs.weight", [(ulong)factors.Length], GgmlType.F32, factors);

        foreach (var hfName in OrderForLlamaCpp(names))
        {
            var ggufName = GgufTensorName(hfName, config.TieWordEmbeddings);
            if (ggufName is null) continue;
            var shape = tensors.Shape(hfName);
            if (ggufName is "token_embd.weight" or "output.weight" && shape[0] != vocabRows)
                throw new InvalidDataException($"checkpoint tensor '{hfName}' has {shape[0]} rows but the vocabulary has {vocabRows} tokens.");
            var dims = shape.Reverse().Select(d => (ulong)d).ToArray();
            // 1-D tensors (norms, biases) stay F32 in an F16/BF16/Q8_0 file, as llama.cpp's own converter keeps them. Q8_0
            // blocks are quantized with the engine's own rule (Int8Blocks), so `--dtype int8` and llama.cpp run the same numbers.
            var type = shape.Count == 1 ? GgmlType.F32 : dtype;
            var permuteHeads = config.Architecture == "llama"
                ? hfName.Contains(".self_attn.q_proj.", StringComparison.Ordinal) ? config.HeadCount
                : hfName.Contains(".self_attn.k_proj.", StringComparison.Ordinal) ? config.KeyValueHeadCount : 0
                : 0;
            var name = hfName;
            writer.AddTensor(ggufName, dims, type, stream =>
            {
                var values = tensors.ReadFloats(name);
                if (permuteHeads > 0) values = PermuteForAdjacentPairRope(values, (int)shape[0], permuteHeads);
                GgufWriter.WriteFloats(stream, values, type);
            });
        }
    }

    private static IEnumerable<string> ExpectedHfNames(GgufModelConfig config)
    {
        yield return "model.embed_tokens.weight";
        yield return "model.norm.weight";
        if (!config.TieWordEmbeddings) yield return "lm_head.weight";
        var parts = new List<string>
        {
            "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
            "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight",
        };
        if (config.Architecture == "qwen2") parts.AddRange(["self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"]);
        for (var layer = 0; layer < config.LayerCount; layer++)
            foreach (var part in parts) yield return $"model.layers.{layer}.{part}";
    }

    // Embedding first, then layers in numeric order, then the head, as llama.cpp's converter writes them (readers don't depend on it).
    private static IEnumerable<string> OrderForLlamaCpp(IEnumerable<string> names) =>
        names.OrderBy(n => n == "model.embed_tokens.weight" ? 0 : LayerKey().Match(n) is { Success: true } ? 1 : 2)
            .ThenBy(n => LayerKey().Match(n) is { Success: true } m ? int.Parse(m.Groups["layer"].Value) : 0)
            .ThenBy(n => n, StringComparer.Ordinal);

    [GeneratedRegex(@"^model\.layers\.(?<layer>\d+)\.(?<part>[a-z_.]+?)\.(?<kind>weight|bias)$")]
    private static partial Regex LayerKey();
}
