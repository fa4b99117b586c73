using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HuatuoAspire.Model.Modules;

/// <summary>The SwiGLU feed-forward block: down(silu(gate(x)) * up(x)).</summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the Hugging Face state-dict keys
    public readonly Projection gate_proj;
    public readonly Projection up_proj;
    public readonly Projection down_proj;
#pragma warning restore IDE1006

    public Mlp(ModelConfig c, Device? device, ScalarType dtype) : base(nameof(Mlp))
    {
        gate_proj = new Projection(c.HiddenSize, c.IntermediateSize, c.MlpBias, device, dtype);
        up_proj = new Projection(c.HiddenSize, c.IntermediateSize, c.MlpBias, device, dtype);
        down_proj = new Projection(c.IntermediateSize, c.HiddenSize, c.MlpBias, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return down_proj.forward(F.silu(gate_proj.forward(x)) * up_proj.forward(x)).MoveToOuterDisposeScope();
    }
}
