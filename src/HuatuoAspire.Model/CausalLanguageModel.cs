using HuatuoAspire.Model.Checkpoints;
using HuatuoAspire.Model.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HuatuoAspire.Model;

/// <summary>
/// Where and in what precision a model runs: fp32 on CPU, bf16 on CUDA by default; <see cref="Weights"/> may hold the
/// matrices of an fp32 CPU model as bf16 or int8 (<see cref="WeightStorage"/>).
/// </summary>
public sealed record ModelPlacement(Device Device, ScalarType DType, WeightStorage Weights = WeightStorage.Compute)
{
    public static ModelPlacement Cpu => new(CPU, ScalarType.Float32);

    /// <summary>CUDA with bf16 when the CUDA build of libtorch is present and a GPU is visible, else CPU fp32.</summary>
    public static ModelPlacement Default => cuda.is_available() ? new(CUDA, ScalarType.BFloat16) : Cpu;

    public static ModelPlacement Parse(string? device, string? dtype)
    {
        var d = string.IsNullOrEmpty(device) || device == "auto" ? Default.Device : torch.device(device);
        var t = dtype switch
        {
            null or "" or "auto" => d.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32,
            "fp32" or "float32" => ScalarType.Float32,
            "bf16" or "bfloat16" => ScalarType.BFloat16,
            "fp16" or "float16" => ScalarType.Float16,
            _ => throw new ArgumentException($"Unknown dtype '{dtype}' (fp32, bf16, fp16)."),
        };
        return new ModelPlacement(d, t);
    }

    /// <summary>The names <see cref="ForWeights"/> takes.</summary>
    public static readonly string[] WeightDTypeNames = ["auto", "f32", "bf16", "int8"];

    /// <summary>
    /// The placement for a weight dtype as inference commands name it (<c>--dtype</c>): <c>f32</c>; <c>bf16</c> (on the
    /// CPU bf16 matrices with fp32 compute, on CUDA bf16 throughout); <c>int8</c> (CPU only: int8 matrices, fp32
    /// compute); <c>auto</c> or nothing: the default placement.
    /// </summary>
    public static ModelPlacement ForWeights(string? device, string? weights)
    {
        // Refused on the names alone: making a CUDA device throws where libtorch has no CUDA.
        if (weights == "int8" && device is not null && device.StartsWith("cuda", StringComparison.Ordinal))
            throw new ArgumentException("int8 weights run on the CPU only (use --device cpu, or bf16 on CUDA).");
        var d = string.IsNullOrEmpty(device) || device == "auto" ? Default.Device : torch.device(device);
        var cpu = d.type == DeviceType.CPU;
        return weights switch
        {
            null or "" or "auto" => Parse(device, null),
            "f32" or "fp32" or "float32" => new ModelPlacement(d, ScalarType.Float32),
            "bf16" or "bfloat16" => cpu ? new ModelPlacement(d, ScalarType.Float32, WeightStorage.BFloat16) : new ModelPlacement(d, ScalarType.BFloat16),
            "int8" when cpu => new ModelPlacement(d, ScalarType.Float32, WeightStorage.Int8),
            "int8" => throw new ArgumentException("int8 weights run on the CPU only (use --device cpu, or bf16 on CUDA)."),
            _ => throw new ArgumentException($"Unknown weight dtype '{weights}' (f32, bf16, int8)."),
        };
    }

    /// <summary>How the model's matrices are held, as <c>--dtype</c> names it.</summary>
    public string WeightsName => Weights switch
    {
        WeightStorage.BFloat16 => "bf16",
        WeightStorage.Int8 => "int8",
        _ => DType == ScalarType.BFloat16 ? "bf16" : DType == ScalarType.Float16 ? "f16" : "f32",
    };
}

/// <summary>
/// <c>LlamaForCausalLM</c> / <c>Qwen2ForCausalLM</c>: the decoder trunk and the language-model head, with parameter
/// names equal to the Hugging Face state-dict keys so checkpoints load strictly. With tied embeddings the head reuses
/// <c>model.embed_tokens.weight</c> and has no parameter of its own.
/// </summary>
public sealed class CausalLanguageModel : nn.Module<Tensor, LayerInputs, Tensor>
{
    private RotaryEmbedding? _rope;
#pragma warning disable IDE1006 // field names are the Hugging Face state-dict keys
    public readonly DecoderModel model;
    public readonly Projection? lm_head;
#pragma warning restore IDE1006

    public CausalLanguageModel(ModelConfig config, ModelPlacement placement) : base(config.Architecture)
    {
        config.Validate();
        Config = config;
        Placement = placement;
        model = new DecoderModel(config, placement.Device, placement.DType);
        lm_head = config.TieWordEmbeddings ? null : new Projection(config.HiddenSize, config.VocabSize, hasBias: false, placement.Device, placement.DType);
        RegisterComponents();
    }

    public ModelConfig Config { get; }
    public ModelPlacement Placement { get; }

    public long ParameterCount => parameters().Sum(p => p.NumberOfElements);

    /// <summary>Bytes of every parameter as held in memory, int8 block scales included.</summary>
    public long WeightBytes =>
        parameters().Sum(p => p.NumberOfElements * p.ElementSize)
        + named_buffers().Where(b => b.name.EndsWith(".weight_scales", StringComparison.Ordinal)).Sum(b => b.buffer.NumberOfElements * b.buffer.ElementSize);

    /// <summary>Rotary tables covering every position this model will see (grown on demand).</summary>
    public RotaryEmbedding Rope(int positions)
    {
        if (_rope is null || _rope.MaxPositions < positions)
        {
            _rope?.Dispose();
            _rope = new RotaryEmbedding(Config, Placement.Device, Math.Max(positions, Math.Min(Config.MaxPositionEmbeddings, 4096)));
        }
        return _rope;
    }

    /// <summary>The final hidden states [B, T, hidden] for <paramref name="inputIds"/> ([B, T] int64).</summary>
    public override Tensor forward(Tensor inputIds, LayerInputs inputs) => model.forward(inputIds, inputs);

    /// <summary>Logits from hidden states: the head, or the tied embedding matrix.</summary>
    public Tensor Logits(Tensor hidden) =>
        lm_head is not null ? lm_head.forward(hidden) : Projection.Linear(hidden, model.embed_tokens.weight, null, model.embed_tokens.weight_scales);

    /// <summary>
    /// A full causal forward pass without a cache (training, scoring): logits [B, T, V]. With
    /// <paramref name="attentionMask"/> ([B, T], 1 for real tokens, right padding) padded keys are masked out.
    /// </summary>
    public Tensor ForwardLogits(Tensor inputIds, Tensor? attentionMask = null) => Logits(ForwardHidden(inputIds, attentionMask));

    public Tensor ForwardHidden(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var (b, t) = (inputIds.shape[0], inputIds.shape[1]);
        var positions = arange(t, dtype: ScalarType.Int64, device: Placement.Device).unsqueeze(0).expand(b, t);
        var (cos, sin) = Rope((int)t).For(positions, Placement.DType);
        Tensor? mask = null;
        if (attentionMask is not null)
        {
            var causal = ones([t, t], dtype: ScalarType.Bool, device: Placement.Device).tril();
            mask = causal.unsqueeze(0).unsqueeze(0) & attentionMask.to(ScalarType.Bool).view(b, 1, 1, t);
            // A padded query row would see no key at all; let it see itself so softmax stays finite (its output is ignored).
            mask = mask | eye(t, dtype: ScalarType.Bool, device: Placement.Device).unsqueeze(0).unsqueeze(0);
        }
        return model.forward(inputIds, new LayerInputs(cos, sin, mask, IsCausal: true, Cache: null)).MoveToOuterDisposeScope();
    }

    /// <summary>Names of checkpoint tensors that may be present without a parameter.</summary>
    public bool IsIgnorableCheckpointTensor(string name) =>
        name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)
        || (Config.TieWordEmbeddings && name == "lm_head.weight");

    /// <summary>Loads a Hugging Face folder (config.json + safetensors).</summary>
    public static CausalLanguageModel FromPretrained(string modelDirectory, ModelPlacement? placement = null)
    {
        var config = ModelConfig.Load(modelDirectory);
        var target = placement ?? ModelPlacement.Default;
        // The load below is strict (every parameter or an error), so the projections skip their initialisation pass.
        CausalLanguageModel lm;
        using (Projection.WeightsLoadedAfterwards(target.Weights)) lm = new CausalLanguageModel(config, target);
        using var checkpoint = HuggingFaceCheckpoint.Open(modelDirectory);
        checkpoint.LoadInto(lm, lm.IsIgnorableCheckpointTensor);
        lm.eval();
        return lm;
    }

    /// <summary>Writes config.json and the weights (in <paramref name="dtype"/>, default the model's own).</summary>
    public void SavePretrained(string modelDirectory, ScalarType? dtype = null, long maxShardBytes = 5L << 30)
    {
        Directory.CreateDirectory(modelDirectory);
        (Config with { TorchDtype = (dtype ?? Placement.DType).ToTorchDtypeName() }).Save(modelDirectory);
        HuggingFaceCheckpoint.Save(this, modelDirectory, dtype, maxShardBytes);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _rope?.Dispose();
        base.Dispose(disposing);
    }
}
