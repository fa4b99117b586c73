using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// A LoRA adapter of one projection (Hu et al. 2021, PEFT's layout): <c>lora_A</c> [r, in] with PEFT's
/// Kaiming-uniform initialisation, <c>lora_B</c> [out, r] zero, so a new adapter leaves the model unchanged; the
/// projection adds scaling·B·A·dropout(x) with scaling = alpha / r. Lives on the base weight's device and dtype and
/// is deliberately not a registered submodule (the model's Hugging Face state dict never holds it).
/// </summary>
public sealed class LoraAdapter : IDisposable
{
    public LoraAdapter(long inFeatures, long outFeatures, int rank, double alpha, double dropout, Device device, ScalarType dtype, Generator? generator = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        if (!(alpha > 0)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "LoRA alpha must be positive.");
        if (dropout is < 0 or >= 1 || double.IsNaN(dropout)) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "LoRA dropout must be in [0, 1).");
        Rank = rank;
        Alpha = alpha;
        Dropout = dropout;
        using (no_grad())
        {
            var a = empty([rank, inFeatures], dtype: dtype, device: device);
            // kaiming_uniform_(a=√5) on [r, in]: bound = √(6 / ((1 + 5)·in)) = 1/√in.
            var bound = 1 / Math.Sqrt(inFeatures);
            a.uniform_(-bound, bound, generator);
            A = new Parameter(a);
            B = new Parameter(zeros([outFeatures, rank], dtype: dtype, device: device));
        }
    }

    public int Rank { get; }
    public double Alpha { get; }
    public double Dropout { get; }
    public double Scaling => Alpha / Rank;

    /// <summary>PEFT's <c>lora_A.weight</c>, [r, in].</summary>
    public Parameter A { get; }

    /// <summary>PEFT's <c>lora_B.weight</c>, [out, r].</summary>
    public Parameter B { get; }

    /// <summary>scaling · B(A(dropout(x))); dropout only while <paramref name="training"/>.</summary>
    public Tensor Delta(Tensor x, bool training)
    {
        using var scope = NewDisposeScope();
        var input = x.dtype == A.dtype ? x : x.to(A.dtype);
        if (training && Dropout > 0) input = F.dropout(input, Dropout, training: true);
        var delta = F.linear(F.linear(input, A), B) * Scaling;
        return (delta.dtype == x.dtype ? delta : delta.to(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>scaling · B·A, [out, in]: what merging adds to the base weight.</summary>
    public Tensor DeltaWeight()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return (B.matmul(A) * Scaling).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
