using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.Modules;

/// <summary>RMSNorm as Llama and Qwen2 define it: normalise in float32, scale by <c>weight</c>, cast back.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly double _eps;
#pragma warning disable IDE1006 // field names are the Hugging Face state-dict keys
    public readonly Parameter weight;
#pragma warning restore IDE1006

    public RmsNorm(long size, double eps, Device? device = null, ScalarType dtype = ScalarType.Float32) : base(nameof(RmsNorm))
    {
        _eps = eps;
        weight = new Parameter(ones(size, dtype: dtype, device: device));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var input = x.dtype == ScalarType.Float32 ? x : x.to(ScalarType.Float32);
        var variance = input.pow(2).mean([-1], keepdim: true);
        var normed = input * rsqrt(variance + _eps);
        return (weight * normed.to(x.dtype)).MoveToOuterDisposeScope();
    }
}
