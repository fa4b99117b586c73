using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// A linear projection y = x·Wᵀ + b with the parameters of <c>nn.Linear</c> (<c>weight</c> [out, in], optional
/// <c>bias</c>), so state-dict keys stay <c>…q_proj.weight</c>. Inference on CPU in fp32 (no gradient) runs our own
/// kernels on fp32, bf16 or int8 weights (<see cref="WeightStorage"/>): decode (few rows) the bandwidth-bound
/// <see cref="MatVec"/>, prefill (many rows) the arithmetic-bound <see cref="MatMul"/>; everything else (training,
/// CUDA, strided inputs) goes through <c>F.linear</c>, on bf16/int8 weights one block of output rows dequantized at a
/// time. An optional LoRA adapter (<see cref="Lora"/>) adds scaling·B·A·dropout(x) and is not a registered parameter,
/// so the Hugging Face state dict of the model never contains it.
/// </summary>
public sealed class Projection : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the Hugging Face state-dict keys
    public readonly Parameter weight;
    public readonly Parameter? bias;
    /// <summary>With int8 weights: one scale per 32 weights of a row, [out, in / 32] (a buffer: not in the checkpoint).</summary>
    public readonly Tensor? weight_scales;
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
            var storage = StorageFor(t_weightsLoadedAfterwards ? t_storage : WeightStorage.Compute, device, dtype);
            if (storage == WeightStorage.Int8 && inFeatures % Int8Blocks.BlockSize != 0)
                throw new ModelFormatException($"int8 weights need input sizes in blocks of {Int8Blocks.BlockSize}; this projection has {inFeatures}.");
            if (storage == WeightStorage.Compute)
            {
                var w = empty([outFeatures, inFeatures], dtype: dtype, device: device);
                if (!t_weightsLoadedAfterwards) nn.init.kaiming_uniform_(w, Math.Sqrt(5));
                weight = new Parameter(w);
            }
            else
            {
                // Inference-only storage: filled by the checkpoint load, never trained.
                weight = new Parameter(empty([outFeatures, inFeatures], dtype: storage == WeightStorage.Int8 ? ScalarType.Int8 : ScalarType.BFloat16, device: device),
                    requires_grad: false);
                if (storage == WeightStorage.Int8) weight_scales = empty([outFeatures, inFeatures / Int8Blocks.BlockSize], dtype: ScalarType.Float32, device: device);
            }
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
    [ThreadStatic] private static WeightStorage t_storage;

    /// <summary>
    /// Until disposed, projections (and token embeddings) made on this thread leave their memory as allocated instead of
    /// initialising it: for a model whose every weight a strict checkpoint load overwrites right after (an 8B model's
    /// init pass is ~7 G random numbers on the CPU for nothing), held as <paramref name="storage"/> says. Never for
    /// weights that might be used before they are loaded.
    /// </summary>
    public static IDisposable WeightsLoadedAfterwards(WeightStorage storage = WeightStorage.Compute)
    {
        var outer = (t_weightsLoadedAfterwards, t_storage);
        t_weightsLoadedAfterwards = true;
        t_storage = storage;
        return new InitialisationScope(outer);
    }

    /// <summary>Whether matrices made now on this thread are filled by a checkpoint load right after (no initialisation).</summary>
    internal static bool WeightsArePending => t_weightsLoadedAfterwards;

    /// <summary>The storage of matrices made now on this thread (<see cref="WeightsLoadedAfterwards"/>).</summary>
    internal static WeightStorage CurrentStorage(Device? device, ScalarType dtype) =>
        StorageFor(t_weightsLoadedAfterwards ? t_storage : WeightStorage.Compute, device, dtype);

    /// <summary>bf16 and int8 storage are for fp32 compute on the CPU; anything else keeps the compute dtype.</summary>
    private static WeightStorage StorageFor(WeightStorage requested, Device? device, ScalarType dtype)
    {
        if (requested == WeightStorage.Compute) return requested;
        if (dtype != ScalarType.Float32 || (device is not null && device.type != DeviceType.CPU))
            throw new ArgumentException($"{requested} weights are for fp32 compute on the CPU (asked: {dtype} on {device?.type.ToString() ?? "CPU"}).");
        return requested;
    }

    private sealed class InitialisationScope((bool Loaded, WeightStorage Storage) outer) : IDisposable
    {
        public void Dispose() => (t_weightsLoadedAfterwards, t_storage) = outer;
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
        var y = Linear(x, weight, bias, weight_scales, out var usedKernel);
        LastCallUsedKernel = usedKernel;
        return y;
    }

    /// <summary>
    /// x·Wᵀ + b: our kernels when everything is contiguous fp32 (W also bf16, or int8 with <paramref name="scales"/>) on
    /// the CPU and no gradient is needed (<see cref="MatVec"/> for up to <see cref="MatVec.MaxRows"/> rows of x,
    /// <see cref="MatMul"/> for more); <c>F.linear</c> otherwise.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? scales = null) => Linear(x, weight, bias, scales, out _);

    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias, out bool usedKernel) => Linear(x, weight, bias, null, out usedKernel);

    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? scales, out bool usedKernel)
    {
        usedKernel = CanUseKernel(x, weight, bias, scales, out var rows) && (rows <= MatVec.MaxRows || MatMul.IsAccelerated);
        if (usedKernel) return Kernel(x, weight, bias, scales, rows);
        return weight.dtype == x.dtype ? F.linear(x, weight, bias) : DequantizedLinear(x, weight, bias, scales);
    }

    /// <summary>W as <paramref name="dtype"/>: bf16 widened, int8 times its block scales.</summary>
    public static unsafe Tensor Dequantize(Tensor weight, Tensor? scales, ScalarType dtype = ScalarType.Float32)
    {
        if (dtype == ScalarType.Float32 && weight.device_type == DeviceType.CPU && weight.is_contiguous() && (scales?.is_contiguous() ?? true)
            && weight.dtype is ScalarType.BFloat16 or ScalarType.Int8)
        {
            var widened = empty(weight.shape, ScalarType.Float32);
            if (TryWidenInto(weight, scales, widened)) return widened;
            widened.Dispose();
        }
        if (weight.dtype != ScalarType.Int8) return weight.to(dtype);
        if (scales is null) throw new ArgumentException("int8 weights need their scales.", nameof(scales));
        using var scope = NewDisposeScope();
        var (rows, columns) = (weight.shape[0], weight.shape[1]);
        var blocks = weight.to(dtype).view(rows, columns / Int8Blocks.BlockSize, Int8Blocks.BlockSize) * scales.to(dtype).unsqueeze(-1);
        return blocks.view(rows, columns).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Many rows (prefill) against bf16/int8 weights: W is widened one block of output rows at a time (16 MiB of fp32)
    /// into a scratch buffer kept by the thread, so a 128k-row head never exists in fp32 at once, and no fresh memory
    /// is touched per call (page faults on fresh 64 MiB blocks measured ~0.5 s here, 6× the product itself).
    /// </summary>
    private static unsafe Tensor DequantizedLinear(Tensor x, Tensor weight, Tensor? bias, Tensor? scales)
    {
        using var scope = NewDisposeScope();
        var (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1]);
        var block = Math.Min(outFeatures, Math.Max(16, (4L << 20) / inFeatures));
        var scratch = x.dtype == ScalarType.Float32 && x.device_type == DeviceType.CPU ? Scratch(block * inFeatures) : null;
        var parts = new List<Tensor>();
        for (long o = 0; o < outFeatures; o += block)
        {
            var n = Math.Min(block, outFeatures - o);
            var rows = weight.narrow(0, o, n);
            var rowScales = scales?.narrow(0, o, n);
            Tensor w;
            if (scratch is not null && rows.is_contiguous() && (rowScales?.is_contiguous() ?? true) && TryWidenInto(rows, rowScales, scratch))
                w = scratch.narrow(0, 0, n * inFeatures).view(n, inFeatures);
            else
                w = Dequantize(rows, rowScales, x.dtype);
            parts.Add(F.linear(x, w, bias?.narrow(0, o, n).to(x.dtype)));
        }
        var y = parts.Count == 1 ? parts[0] : cat(parts, -1);
        return y.MoveToOuterDisposeScope();
    }

    [ThreadStatic] private static Tensor? t_scratch;

    /// <summary>This thread's fp32 scratch of at least <paramref name="elements"/> values (grown, never shrunk).</summary>
    private static Tensor Scratch(long elements)
    {
        if (t_scratch is null || t_scratch.NumberOfElements < elements)
        {
            t_scratch?.Dispose();
            t_scratch = empty([elements], ScalarType.Float32).DetachFromDisposeScope();
        }
        return t_scratch;
    }

    /// <summary>Widens contiguous bf16 or int8 rows into the start of <paramref name="target"/> (fp32) with the vector loops.</summary>
    private static unsafe bool TryWidenInto(Tensor weight, Tensor? scales, Tensor target)
    {
        if (weight.dtype == ScalarType.BFloat16)
        {
            MatVec.WidenBFloat16((ushort*)Data(weight), (float*)Data(target), weight.NumberOfElements);
            return true;
        }
        if (weight.dtype == ScalarType.Int8 && scales is { dtype: ScalarType.Float32 } && MatVec.IsInt8Accelerated)
        {
            MatVec.WidenInt8((sbyte*)Data(weight), (float*)Data(scales), (float*)Data(target), weight.NumberOfElements);
            return true;
        }
        return false;
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

    private static bool CanUseKernel(Tensor x, Tensor weight, Tensor? bias, Tensor? scales, out int rows)
    {
        rows = 0;
        if (!KernelEnabled || !MatVec.IsAccelerated || x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32
            || weight.device_type != DeviceType.CPU || weight.dim() != 2) return false;
        switch (weight.dtype)
        {
            case ScalarType.Float32 or ScalarType.BFloat16:
                break;
            case ScalarType.Int8 when MatVec.IsInt8Accelerated && scales is { dtype: ScalarType.Float32 } && scales.is_contiguous()
                                      && weight.shape[1] % Int8Blocks.BlockSize == 0:
                break;
            default:
                return false;
        }
        var (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1]);
        if (x.dim() == 0 || x.shape[^1] != inFeatures || inFeatures > int.MaxValue || outFeatures > int.MaxValue) return false;
        var total = x.NumberOfElements / Math.Max(1, inFeatures);
        if (total is < 1 or > int.MaxValue) return false;
        if (is_grad_enabled() && (weight.requires_grad || x.requires_grad || (bias?.requires_grad ?? false))) return false;
        if (!x.is_contiguous() || !weight.is_contiguous()) return false;
        if (bias is not null && (bias.dtype != ScalarType.Float32 || bias.device_type != DeviceType.CPU || !bias.is_contiguous()
            || bias.dim() != 1 || bias.shape[0] != outFeatures)) return false;
        rows = (int)total;
        return true;
    }

    private static unsafe Tensor Kernel(Tensor x, Tensor weight, Tensor? bias, Tensor? scales, int rows)
    {
        var shape = x.shape;
        shape[^1] = weight.shape[0];
        var y = empty(shape, dtype: ScalarType.Float32, device: CPU);
        var (inFeatures, outFeatures) = ((int)weight.shape[1], (int)weight.shape[0]);
        var threads = KernelThreads ?? get_num_threads();
        var b = bias is null ? null : (float*)Data(bias);
        var w = Data(weight);
        var s = scales is null ? null : (float*)Data(scales);
        var xp = (float*)Data(x);
        var yp = (float*)Data(y);
        Multiply(weight.dtype, xp, w, s, b, yp, rows, inFeatures, outFeatures, threads);
        return y;
    }

    /// <summary>
    /// y = x·Wᵀ + b on raw memory, W of <paramref name="kind"/> (fp32, bf16, or int8 with its block
    /// <paramref name="scales"/>): up to <see cref="MatVec.MaxRows"/> rows (decode) the bandwidth-bound
    /// <see cref="MatVec"/>, more (prefill) the arithmetic-bound <see cref="MatMul"/>.
    /// </summary>
    internal static unsafe void Multiply(ScalarType kind, float* x, void* w, float* scales, float* b, float* y, int rows, int inFeatures,
        int outFeatures, int threads)
    {
        var few = rows <= MatVec.MaxRows;
        switch (kind)
        {
            case ScalarType.Float32 when few: MatVec.Multiply(x, (float*)w, b, y, rows, inFeatures, outFeatures, threads); break;
            case ScalarType.Float32: MatMul.Multiply(x, (float*)w, b, y, rows, inFeatures, outFeatures, threads); break;
            case ScalarType.BFloat16 when few: MatVec.MultiplyBFloat16(x, (ushort*)w, b, y, rows, inFeatures, outFeatures, threads); break;
            case ScalarType.BFloat16: MatMul.MultiplyBFloat16(x, (ushort*)w, b, y, rows, inFeatures, outFeatures, threads); break;
            case ScalarType.Int8 when few: MatVec.MultiplyInt8(x, (sbyte*)w, scales, b, y, rows, inFeatures, outFeatures, threads); break;
            case ScalarType.Int8: MatMul.MultiplyInt8(x, (sbyte*)w, scales, b, y, rows, inFeatures, outFeatures, threads); break;
            default: throw new ArgumentException($"No kernel multiplies {kind} weights.", nameof(kind));
        }
    }

    /// <summary>The address of a contiguous CPU tensor's elements (its <c>bytes</c> span is a view, not a copy, on the CPU).</summary>
    internal static unsafe void* Data(Tensor t)
    {
        if (t.NumberOfElements * t.ElementSize <= int.MaxValue) return Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));
        // A span cannot cover more than 2 GiB (an 8B model's head): the first element's view has the same address.
        using var first = t.view(-1).narrow(0, 0, 1);
        return Unsafe.AsPointer(ref MemoryMarshal.GetReference(first.bytes));
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
