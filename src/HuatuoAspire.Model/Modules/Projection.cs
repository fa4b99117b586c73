using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// A linear projection y = x·Wᵀ + b with the parameters of <c>nn.Linear</c> (<c>weight</c> [out, in], optional
/// <c>bias</c>), so state-dict keys stay <c>…q_proj.weight</c>. Decode on CPU in fp32 (few rows, no gradient) runs
/// the bandwidth-bound <see cref="MatVec"/> kernel; everything else (training, prefill, CUDA, bf16) goes through
/// <c>F.linear</c>. An optional LoRA adapter (<see cref="Lora"/>) adds scaling·B·A·dropout(x) and is not a
/// registered parameter, so the Hugging Face state dict of the model never contains it.
/// </summary>
public sealed class Projection : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the Hugging Face state-dict keys
    public readonly Parameter weight;
    public readonly Parameter? bias;
#pragma warning restore IDE1006

    public Projection(long inFeatures, long outFeatures, bool hasBias, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(Projection))
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        // nn.Linear's initialisation: Kaiming-uniform weight (a = √5) and a uniform bias in ±1/√in; none inside
        // WeightsLoadedAfterwards, where a checkpoint overwrites every value next.
        using (no_grad())
        {
            var w = empty([outFeatures, inFeatures], dtype: dtype, device: device);
            if (!t_weightsLoadedAfterwards) nn.init.kaiming_uniform_(w, Math.Sqrt(5));
            weight = new Parameter(w);
            if (hasBias)
            {
                var bound = 1 / Math.Sqrt(inFeatures);
                var b = empty([outFeatures], dtype: dtype, device: device);
                bias = new Parameter(t_weightsLoadedAfterwards ? b : b.uniform_(-bound, bound));
            }
        }
        RegisterComponents();
    }

    [ThreadStatic] private static bool t_weightsLoadedAfterwards;

    /// <summary>
    /// Until disposed, projections made on this thread leave their memory as allocated instead of initialising it: for a
    /// model whose every weight a strict checkpoint load overwrites right after (an 8B model's init pass is ~7 G random
    /// numbers on the CPU for nothing). Never for weights that might be used before they are loaded.
    /// </summary>
    public static IDisposable WeightsLoadedAfterwards()
    {
        var outer = t_weightsLoadedAfterwards;
        t_weightsLoadedAfterwards = true;
        return new InitialisationScope(outer);
    }

    private sealed class InitialisationScope(bool outer) : IDisposable
    {
        public void Dispose() => t_weightsLoadedAfterwards = outer;
    }

    public long InFeatures { get; }
    public long OutFeatures { get; }

    /// <summary>The LoRA adapter, when one is attached (<see cref="AttachLora"/>).</summary>
    public LoraAdapter? Lora { get; private set; }

    /// <summary>Whether the last <see cref="forward"/> call ran the <see cref="MatVec"/> kernel (tests).</summary>
    public bool LastCallUsedKernel { get; private set; }

    public override Tensor forward(Tensor x)
    {
        var y = Base(x);
        if (Lora is null) return y;
        using var scope = NewDisposeScope();
        var adapted = y + Lora.Delta(x, training);
        y.Dispose();
        return adapted.MoveToOuterDisposeScope();
    }

    private Tensor Base(Tensor x)
    {
        var y = Linear(x, weight, bias, out var usedKernel);
        LastCallUsedKernel = usedKernel;
        return y;
    }

    /// <summary>
    /// x·Wᵀ + b: the <see cref="MatVec"/> kernel when x has at most <see cref="MatVec.MaxRows"/> rows, everything is
    /// contiguous fp32 on the CPU and no gradient is needed; <c>F.linear</c> otherwise.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias) => Linear(x, weight, bias, out _);

    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias, out bool usedKernel)
    {
        usedKernel = CanUseKernel(x, weight, bias, out var rows);
        return usedKernel ? Kernel(x, weight, bias, rows) : F.linear(x, weight, bias);
    }

    /// <summary>
    /// Whether the decode kernel may run (default true; <c>HUATUO_MATVEC_KERNEL=0</c> turns it off, to measure libtorch's
    /// own product side by side).
    /// </summary>
    public static bool KernelEnabled { get; set; } = Environment.GetEnvironmentVariable("HUATUO_MATVEC_KERNEL") != "0";

    /// <summary>
    /// Workers the decode kernel splits a product over (default: libtorch's thread count;
    /// <c>HUATUO_MATVEC_THREADS</c> overrides it).
    /// </summary>
    public static int? KernelThreads { get; set; } =
        int.TryParse(Environment.GetEnvironmentVariable("HUATUO_MATVEC_THREADS"), out var n) && n > 0 ? n : null;

    private static bool CanUseKernel(Tensor x, Tensor weight, Tensor? bias, out int rows)
    {
        rows = 0;
        if (!KernelEnabled || !MatVec.IsAccelerated || x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32
            || weight.dtype != ScalarType.Float32 || weight.device_type != DeviceType.CPU || weight.dim() != 2) return false;
        var (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1]);
        if (x.dim() == 0 || x.shape[^1] != inFeatures || inFeatures > int.MaxValue || outFeatures > int.MaxValue) return false;
        var total = x.NumberOfElements / Math.Max(1, inFeatures);
        if (total is < 1 or > MatVec.MaxRows) return false;
        if (is_grad_enabled() && (weight.requires_grad || x.requires_grad || (bias?.requires_grad ?? false))) return false;
        if (!x.is_contiguous() || !weight.is_contiguous()) return false;
        if (bias is not null && (bias.dtype != ScalarType.Float32 || bias.device_type != DeviceType.CPU || !bias.is_contiguous()
            || bias.dim() != 1 || bias.shape[0] != outFeatures)) return false;
        rows = (int)total;
        return true;
    }

    private static unsafe Tensor Kernel(Tensor x, Tensor weight, Tensor? bias, int rows)
    {
        var shape = x.shape;
        shape[^1] = weight.shape[0];
        var y = empty(shape, dtype: ScalarType.Float32, device: CPU);
        MatVec.Multiply(Data(x), Data(weight), bias is null ? null : Data(bias), Data(y), rows, (int)weight.shape[1], (int)weight.shape[0],
            KernelThreads ?? get_num_threads());
        return y;
    }

    /// <summary>The address of a contiguous CPU tensor's elements (its <c>bytes</c> span is a view, not a copy, on the CPU).</summary>
    private static unsafe float* Data(Tensor t)
    {
        if (t.NumberOfElements * sizeof(float) <= int.MaxValue) return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));
        // A span cannot cover more than 2 GiB (an 8B model's head): the first element's view has the same address.
        using var first = t.view(-1).narrow(0, 0, 1);
        return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(first.bytes));
    }

    /// <summary>Adds a LoRA adapter of rank <paramref name="rank"/> (A Kaiming-uniform, B zero: the output is unchanged).</summary>
    public LoraAdapter AttachLora(int rank, double alpha, double dropout, Generator? generator = null)
    {
        if (Lora is not null) throw new InvalidOperationException("This projection already has a LoRA adapter.");
        Lora = new LoraAdapter(InFeatures, OutFeatures, rank, alpha, dropout, weight.device, weight.dtype, generator);
        return Lora;
    }

    /// <summary>W += scaling·B·A, then the adapter is removed: the projection computes the same function without it.</summary>
    public void MergeLora()
    {
        if (Lora is null) return;
        using (no_grad())
        using (NewDisposeScope())
        {
            weight.add_(Lora.DeltaWeight().to(weight.dtype));
        }
        DetachLora();
    }

    /// <summary>Removes the adapter without merging it.</summary>
    public void DetachLora()
    {
        Lora?.Dispose();
        Lora = null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) DetachLora();
        base.Dispose(disposing);
    }
}
