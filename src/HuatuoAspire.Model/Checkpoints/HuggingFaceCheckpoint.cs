using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.Checkpoints;

/// <summary>
/// The weights of a Hugging Face model folder: <c>model.safetensors</c>, or shards
/// <c>model-0000X-of-0000N.safetensors</c> listed by <c>model.safetensors.index.json</c>. Loading is strict (every
/// parameter must be in the checkpoint, every checkpoint tensor must be a parameter) and reads each tensor from the file
/// straight into its parameter's memory (a conversion — bf16 to fp32, fp32 to bf16, int8 quantization — goes through a
/// staging buffer of at most 4 MiB), so a model costs its weight bytes once, never twice.
/// </summary>
public sealed class HuggingFaceCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files;
    private readonly Dictionary<string, (SafeTensorsFile File, SafeTensorInfo Info)> _tensors;

    private HuggingFaceCheckpoint(List<SafeTensorsFile> files, Dictionary<string, (SafeTensorsFile, SafeTensorInfo)> tensors)
    {
        _files = files;
        _tensors = tensors;
    }

    public IReadOnlyCollection<string> Names => _tensors.Keys;

    public SafeTensorInfo Info(string name) => _tensors[name].Info;

    public static HuggingFaceCheckpoint Open(string modelDirectory)
    {
        var single = Path.Combine(modelDirectory, SingleFileName);
        var index = Path.Combine(modelDirectory, IndexFileName);
        var files = new List<SafeTensorsFile>();
        var tensors = new Dictionary<string, (SafeTensorsFile, SafeTensorInfo)>(StringComparer.Ordinal);
        try
        {
            if (File.Exists(index))
            {
                var weightMap = JsonNode.Parse(File.ReadAllText(index))?["weight_map"]?.AsObject()
                                ?? throw new ModelFormatException($"{index} has no weight_map.");
                foreach (var shard in weightMap.Select(kv => kv.Value!.GetValue<string>()).Distinct())
                {
                    var shardPath = Path.Combine(modelDirectory, shard);
                    if (!File.Exists(shardPath)) throw new ModelFormatException($"{index} names {shard}, which does not exist.");
                    var file = SafeTensorsFile.Open(shardPath);
                    files.Add(file);
                    foreach (var (name, info) in file.Tensors) tensors[name] = (file, info);
                }
                var missing = weightMap.Select(kv => kv.Key).Where(k => !tensors.ContainsKey(k)).ToList();
                if (missing.Count > 0)
                {
                    throw new ModelFormatException($"{index} maps tensors that no shard holds: {string.Join(", ", missing.Take(10))}.");
                }
            }
            else if (File.Exists(single))
            {
                var file = SafeTensorsFile.Open(single);
                files.Add(file);
                foreach (var (name, info) in file.Tensors) tensors[name] = (file, info);
            }
            else
            {
                throw new ModelFormatException($"{modelDirectory} holds neither {SingleFileName} nor {IndexFileName}.");
            }
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
        return new HuggingFaceCheckpoint(files, tensors);
    }

    /// <summary>Opens one safetensors file of any name (a PEFT <c>adapter_model.safetensors</c>, for one).</summary>
    public static HuggingFaceCheckpoint OpenFile(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException($"{path} does not exist.");
        var file = SafeTensorsFile.Open(path);
        var tensors = file.Tensors.ToDictionary(kv => kv.Key, kv => (file, kv.Value), StringComparer.Ordinal);
        return new HuggingFaceCheckpoint([file], tensors);
    }

    /// <summary>Writes named tensors to one safetensors file (in <paramref name="dtype"/>, default each tensor's own).</summary>
    public static void WriteFile(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, ScalarType? dtype = null)
    {
        var entries = tensors.Select(t =>
        {
            var target = dtype ?? t.Tensor.dtype;
            return new SafeTensorsWriter.Entry(t.Name, target.ToSafeTensorDType(), t.Tensor.shape, stream => WriteTensor(t.Tensor, target, stream));
        }).ToList();
        SafeTensorsWriter.Write(path, entries, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>
    /// Copies every parameter of <paramref name="model"/> from the checkpoint. Missing or unexpected tensors and shape
    /// mismatches are an error naming them. <paramref name="ignorable"/> names checkpoint tensors that may be present
    /// without a parameter (a tied lm_head, rotary inv_freq buffers of old exports).
    /// </summary>
    public void LoadInto(nn.Module model, Func<string, bool>? ignorable = null)
    {
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var missing = parameters.Keys.Where(k => !_tensors.ContainsKey(k)).ToList();
        var unexpected = _tensors.Keys.Where(k => !parameters.ContainsKey(k) && !(ignorable?.Invoke(k) ?? false)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            throw new ModelFormatException(
                "The checkpoint does not match the model." +
                (missing.Count > 0 ? $" Missing: {string.Join(", ", missing.Take(20))}{(missing.Count > 20 ? $" (+{missing.Count - 20} more)" : "")}." : "") +
                (unexpected.Count > 0 ? $" Unexpected: {string.Join(", ", unexpected.Take(20))}{(unexpected.Count > 20 ? $" (+{unexpected.Count - 20} more)" : "")}." : ""));
        }
        // An int8 matrix "x.weight" has its block scales in the buffer "x.weight_scales".
        var scales = model.named_buffers().Where(b => b.name.EndsWith(".weight_scales", StringComparison.Ordinal))
            .ToDictionary(b => b.name[..^"_scales".Length], b => b.buffer);
        using var _ = no_grad();
        foreach (var (name, parameter) in parameters)
        {
            var (file, info) = _tensors[name];
            if (!info.Shape.SequenceEqual(parameter.shape))
            {
                throw new ModelFormatException(
                    $"{file.Path}: '{name}' has shape [{string.Join(", ", info.Shape)}], the model expects [{string.Join(", ", parameter.shape)}].");
            }
            // fp32/fp16/bf16 convert into each other on load; integer or boolean data in a weight is a broken file.
            if (info.DType is not (SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.F64))
            {
                throw new ModelFormatException($"{file.Path}: '{name}' is {info.DType}, the model expects a floating-point weight ({parameter.dtype}).");
            }
            if (parameter.dtype == ScalarType.Int8)
            {
                if (!scales.TryGetValue(name, out var s)) throw new InvalidOperationException($"'{name}' is int8 but has no block scales.");
                Quantize(file, info, parameter, s);
            }
            else
            {
                CopyInto(file, info, parameter);
            }
        }
    }

    /// <summary>Reads one tensor into a new CPU tensor of the checkpoint's own dtype.</summary>
    public Tensor Read(string name)
    {
        var (file, info) = _tensors.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"The checkpoint has no tensor '{name}'.");
        var tensor = empty(info.Shape, info.DType.ToScalarType());
        CopyBytes(file, info, tensor);
        return tensor;
    }

    /// <summary>Staging for conversions: at most this many bytes of fp32 at a time.</summary>
    private const long StagingBytes = 4L << 20;

    private static void CopyInto(SafeTensorsFile file, SafeTensorInfo info, Tensor parameter)
    {
        if (parameter.device_type == DeviceType.CPU && parameter.dtype == info.DType.ToScalarType() && parameter.is_contiguous())
        {
            CopyBytes(file, info, parameter); // straight from the file into the parameter's memory
            return;
        }
        // Another dtype or device: converted in pieces, so no whole-tensor copy exists beside the parameter.
        var chunk = StagingBytes / 4;
        using var flat = parameter.view(-1);
        using var staging = empty([Math.Min(chunk, info.ElementCount)], info.DType.ToScalarType());
        var elementSize = info.DType.ElementSize();
        for (long start = 0; start < info.ElementCount; start += chunk)
        {
            var count = Math.Min(chunk, info.ElementCount - start);
            using var piece = staging.narrow(0, 0, count);
            file.ReadInto(info, start * elementSize, piece.bytes);
            using var target = flat.narrow(0, start, count);
            target.copy_(piece);
        }
    }

    /// <summary>Reads a matrix a few rows at a time, widened to fp32, and quantizes each piece into int8 blocks.</summary>
    private static unsafe void Quantize(SafeTensorsFile file, SafeTensorInfo info, Tensor quants, Tensor scales)
    {
        if (info.Shape.Length != 2 || info.Shape[1] % Modules.Int8Blocks.BlockSize != 0 || !quants.is_contiguous() || !scales.is_contiguous())
            throw new ModelFormatException($"{file.Path}: '{info.Name}' of shape [{string.Join(", ", info.Shape)}] cannot be held as int8 blocks of {Modules.Int8Blocks.BlockSize}.");
        var columns = info.Shape[1];
        var blocks = columns / Modules.Int8Blocks.BlockSize;
        var rowsPerChunk = Math.Max(1, StagingBytes / 4 / columns);
        var elementSize = info.DType.ElementSize();
        using var staging = empty([Math.Min(rowsPerChunk, info.Shape[0]), columns], info.DType.ToScalarType());
        var q = (sbyte*)Modules.Projection.Data(quants);
        var s = (float*)Modules.Projection.Data(scales);
        for (long row = 0; row < info.Shape[0]; row += rowsPerChunk)
        {
            var rows = Math.Min(rowsPerChunk, info.Shape[0] - row);
            // Every intermediate is freed here, not by the garbage collector: left to it, each piece's fp32 copy
            // stayed resident until a collection, and an int8 load peaked above the fp32 model's size.
            using var scope = NewDisposeScope();
            var piece = staging.narrow(0, 0, rows);
            file.ReadInto(info, row * columns * elementSize, piece.bytes);
            var widened = piece.to_type(ScalarType.Float32);
            var count = checked((int)(rows * columns));
            Modules.Int8Blocks.Quantize(new ReadOnlySpan<float>((float*)Modules.Projection.Data(widened), count),
                new Span<sbyte>(q + row * columns, count), new Span<float>(s + row * blocks, checked((int)(rows * blocks))));
        }
    }

    private static void CopyBytes(SafeTensorsFile file, SafeTensorInfo info, Tensor target)
    {
        // Spans are limited to 2 GiB: large tensors (an 8B model's embeddings in fp32) are read in parts.
        var elementSize = info.DType.ElementSize();
        var chunkElements = (int.MaxValue / 2) / elementSize;
        using var flat = target.view(-1);
        for (long start = 0; start < info.ElementCount; start += chunkElements)
        {
            var count = Math.Min(chunkElements, info.ElementCount - start);
            using var part = flat.narrow(0, start, count);
            file.ReadInto(info, start * elementSize, part.bytes);
        }
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }

    /// <summary>
    /// Writes the parameters of <paramref name="model"/> as a Hugging Face checkpoint: one file, or shards of at most
    /// <paramref name="maxShardBytes"/> plus an index. <paramref name="dtype"/> converts on the way (one tensor at a time).
    /// </summary>
    public static void Save(nn.Module model, string modelDirectory, ScalarType? dtype = null, long maxShardBytes = 5L << 30,
        Func<string, bool>? skip = null)
    {
        Directory.CreateDirectory(modelDirectory);
        var parameters = model.named_parameters().Where(p => !(skip?.Invoke(p.name) ?? false)).ToList();
        var entries = parameters.Select(p =>
        {
            var target = dtype ?? p.parameter.dtype;
            return new SafeTensorsWriter.Entry(p.name, target.ToSafeTensorDType(), p.parameter.shape, stream => WriteTensor(p.parameter, target, stream));
        }).ToList();

        var shards = new List<List<SafeTensorsWriter.Entry>> { new() };
        long current = 0;
        foreach (var e in entries)
        {
            if (current > 0 && current + e.ByteLength > maxShardBytes)
            {
                shards.Add([]);
                current = 0;
            }
            shards[^1].Add(e);
            current += e.ByteLength;
        }
        foreach (var stale in Directory.GetFiles(modelDirectory, "model*.safetensors*")) File.Delete(stale);

        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        if (shards.Count == 1)
        {
            SafeTensorsWriter.Write(Path.Combine(modelDirectory, SingleFileName), shards[0], metadata);
            return;
        }
        var weightMap = new JsonObject();
        for (var i = 0; i < shards.Count; i++)
        {
            var name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            SafeTensorsWriter.Write(Path.Combine(modelDirectory, name), shards[i], metadata);
            foreach (var e in shards[i]) weightMap[e.Name] = name;
        }
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = entries.Sum(e => e.ByteLength) },
            ["weight_map"] = weightMap,
        };
        File.WriteAllText(Path.Combine(modelDirectory, IndexFileName), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static void WriteTensor(Tensor parameter, ScalarType dtype, Stream stream)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var cpu = parameter.detach().to(dtype).cpu().contiguous().view(-1);
        var elementSize = dtype.ToSafeTensorDType().ElementSize();
        var chunk = (int.MaxValue / 2) / elementSize;
        for (long start = 0; start < cpu.shape[0]; start += chunk)
        {
            stream.Write(cpu.narrow(0, start, Math.Min(chunk, cpu.shape[0] - start)).bytes);
        }
    }
}

public static class ScalarTypeMapping
{
    public static ScalarType ToScalarType(this SafeTensorDType t) => t switch
    {
        SafeTensorDType.F64 => ScalarType.Float64,
        SafeTensorDType.F32 => ScalarType.Float32,
        SafeTensorDType.F16 => ScalarType.Float16,
        SafeTensorDType.BF16 => ScalarType.BFloat16,
        SafeTensorDType.I64 => ScalarType.Int64,
        SafeTensorDType.I32 => ScalarType.Int32,
        SafeTensorDType.I16 => ScalarType.Int16,
        SafeTensorDType.I8 => ScalarType.Int8,
        SafeTensorDType.U8 => ScalarType.Byte,
        SafeTensorDType.BOOL => ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    public static SafeTensorDType ToSafeTensorDType(this ScalarType t) => t switch
    {
        ScalarType.Float64 => SafeTensorDType.F64,
        ScalarType.Float32 => SafeTensorDType.F32,
        ScalarType.Float16 => SafeTensorDType.F16,
        ScalarType.BFloat16 => SafeTensorDType.BF16,
        ScalarType.Int64 => SafeTensorDType.I64,
        ScalarType.Int32 => SafeTensorDType.I32,
        ScalarType.Int16 => SafeTensorDType.I16,
        ScalarType.Int8 => SafeTensorDType.I8,
        ScalarType.Byte => SafeTensorDType.U8,
        ScalarType.Bool => SafeTensorDType.BOOL,
        _ => throw new ArgumentOutOfRangeException(nameof(t), $"{t} has no safetensors dtype."),
    };

    /// <summary>The <c>torch_dtype</c> string of config.json.</summary>
    public static string ToTorchDtypeName(this ScalarType t) => t switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        _ => t.ToString().ToLowerInvariant(),
    };
}
