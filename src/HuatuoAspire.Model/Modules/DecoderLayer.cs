using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.Modules;

/// <summary>One pre-norm decoder layer: x + attn(norm(x)), then + mlp(norm(x)).</summary>
public sealed class DecoderLayer : nn.Module<Tensor, LayerInputs, Tensor>
{
    private readonly int _index;
#pragma warning disable IDE1006 // field names are the Hugging Face state-dict keys
    public readonly Attention self_attn;
    public readonly Mlp mlp;
    public readonly RmsNorm input_layernorm;
    public readonly RmsNorm post_attention_layernorm;
#pragma warning restore IDE1006

    public DecoderLayer(ModelConfig c, int index, Device? device, ScalarType dtype) : base(nameof(DecoderLayer))
    {
        _index = index;
        self_attn = new Attention(c, device, dtype);
        mlp = new Mlp(c, device, dtype);
        input_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        post_attention_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, LayerInputs inputs)
    {
        using var scope = NewDisposeScope();
        var h = x + self_attn.forward(input_layernorm.forward(x), inputs, _index);
        return (h + mlp.forward(post_attention_layernorm.forward(h))).MoveToOuterDisposeScope();
    }
}
