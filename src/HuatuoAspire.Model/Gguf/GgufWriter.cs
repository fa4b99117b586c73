using System.Runtime.InteropServices;
using System.Text;

namespace HuatuoAspire.Model.Gguf;

/// <summary>
/// Writes a GGUF v3 file: header, typed metadata, tensor infos, then each tensor's data at an aligned offset.
/// Tensor data is produced by a callback at write time, so a large model is streamed one tensor at a time
/// instead of being held in memory whole.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);

    public GgufWriter(uint alignment = GgufFormat.DefaultAlignment)
    {
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "GGUF alignment must be a power of two.");
        Alignment = alignment;
        // Readers assume 32 when the key is absent; write it only when it differs, as llama.cpp's writer does.
        if (alignment != GgufFormat.DefaultAlignment) AddMetadata(GgufFormat.AlignmentKey, GgufValue.UInt32(alignment));
    }

    public uint Alignment { get; }

    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata => _metadata;

    public void AddMetadata(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ValidateValue(key, value);
        if (!_keys.Add(key)) throw new ArgumentException($"GGUF metadata key '{key}' was added twice.", nameof(key));
        _metadata.Add(new(key, value));
    }

    /// <summary>Adds a tensor whose bytes <paramref name="writeData"/> writes (exactly dims × element size of them) when the file is written.</summary>
    public void AddTensor(string name, IReadOnlyList<ulong> dimensions, GgmlType type, Action<Stream> writeData)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (Encoding.UTF8.GetByteCount(name) > 64)
            throw new ArgumentException($"GGUF tensor name '{name}' is longer than the 64 bytes the format allows.", nameof(name));
        if (dimensions.Count is < 1 or > 4)
            throw new ArgumentException($"GGUF tensor '{name}' has {dimensions.Count} dimensions; ggml supports 1 to 4.", nameof(dimensions));
        if (dimensions.Any(d => d == 0))
            throw new ArgumentException($"GGUF tensor '{name}' has a zero dimension ({string.Join(", ", dimensions)}).", nameof(dimensions));
        if (!_tensorNames.Add(name)) throw new ArgumentException($"GGUF tensor '{name}' was added twice.", nameof(name));
        _ = GgufTensorInfo.Bytes(type, 1);
        if (type == GgmlType.Q8_0 && dimensions[0] % GgufTensorInfo.Q8Block != 0)
            throw new ArgumentException($"GGUF tensor '{name}': rows of {dimensions[0]} values are not whole Q8_0 blocks of {GgufTensorInfo.Q8Block}.", nameof(dimensions));
        _tensors.Add(new PendingTensor(name, dimensions.ToArray(), type, writeData));
    }

    /// <summary>Adds a float32 tensor stored as <paramref name="type"/> (F16 rounds to nearest even, as numpy's astype does).</summary>
    public void AddTensor(string name, IReadOnlyList<ulong> dimensions, GgmlType type, ReadOnlyMemory<float> data)
    {
        var count = dimensions.Aggregate(1UL, (a, d) => a * d);
        if ((ulong)data.Length != count)
            throw new ArgumentException($"GGUF tensor '{name}' has {data.Length} values but dimensions ({string.Join(", ", dimensions)}) need {count}.", nameof(data));
        AddTensor(name, dimensions, type, stream => WriteFloats(stream, data.Span, type));
    }

    /// <summary>Writes the file; <paramref name="progress"/> hears the bytes of tensor data written so far and the total.</summary>
    public void WriteTo(string path, IProgress<(long Written, long Total)>? progress = null)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        // Write beside the target and move into place, so a failed export never leaves a truncated file under the final name.
        var partial = path + ".partial";
        try
        {
            using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                WriteTo(file, progress);
            File.Move(partial, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }

    /// <summary>Total bytes of tensor data (without padding).</summary>
    public long TensorBytes => _tensors.Sum(t => (long)t.ByteCount);

    public void WriteTo(Stream stream, IProgress<(long Written, long Total)>? progress = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("GGUF is written little-endian; this machine is big-endian.");
        var output = new CountingStream(stream);
        using var writer = new BinaryWriter(output, Encoding.UTF8, leaveOpen: true);
        writer.Write(GgufFormat.Magic);
        writer.Write(GgufFormat.Version);
        writer.Write((ulong)_tensors.Count);
        writer.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(writer, key);
            writer.Write((uint)value.Type);
            WriteValue(writer, value);
        }

        ulong offset = 0;
        foreach (var tensor in _tensors)
        {
            WriteString(writer, tensor.Name);
            writer.Write((uint)tensor.Dimensions.Length);
            foreach (var d in tensor.Dimensions) writer.Write(d);
            writer.Write((uint)tensor.Type);
            writer.Write(offset);
            offset = GgufFormat.AlignUp(offset + tensor.ByteCount, Alignment);
        }
        writer.Flush();
        Pad(output);

        long done = 0;
        var total = TensorBytes;
        foreach (var tensor in _tensors)
        {
            var start = output.Written;
            tensor.WriteData(output);
            var written = output.Written - start;
            if (written != (long)tensor.ByteCount)
                throw new InvalidOperationException($"GGUF tensor '{tensor.Name}' wrote {written} bytes; its dimensions and type need {tensor.ByteCount}.");
            Pad(output);
            done += written;
            progress?.Report((done, total));
        }
        output.Flush();
    }

    /// <summary>fp32 to bf16, rounding to nearest even as torch and ggml do (NaN stays NaN).</summary>
    public static ushort ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    public static void WriteFloats(Stream stream, ReadOnlySpan<float> values, GgmlType type)
    {
        switch (type)
        {
            case GgmlType.F32:
                stream.Write(MemoryMarshal.AsBytes(values));
                break;
            case GgmlType.Q8_0:
                HuatuoAspire.Model.Modules.Int8Blocks.WriteQ8_0(stream, values);
                break;
            case GgmlType.BF16:
                var halves = new ushort[Math.Min(values.Length, 1 << 16)];
                for (var start = 0; start < values.Length; start += halves.Length)
                {
                    var n = Math.Min(halves.Length, values.Length - start);
                    for (var i = 0; i < n; i++) halves[i] = ToBFloat16(values[start + i]);
                    stream.Write(MemoryMarshal.AsBytes(halves.AsSpan(0, n)));
                }
                break;
            case GgmlType.F16:
                var buffer = new Half[Math.Min(values.Length, 1 << 16)];
                for (var start = 0; start < values.Length; start += buffer.Length)
                {
                    var n = Math.Min(buffer.Length, values.Length - start);
                    for (var i = 0; i < n; i++) buffer[i] = (Half)values[start + i];
                    stream.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
                }
                break;
            default:
                throw new NotSupportedException($"ggml type {type} is not supported here (only F32 and F16).");
        }
    }

    private void Pad(CountingStream output)
    {
        var padding = (int)(GgufFormat.AlignUp((ulong)output.Written, Alignment) - (ulong)output.Written);
        if (padding > 0) output.Write(new byte[padding]);
    }

    private static void WriteString(BinaryWriter writer, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        writer.Write((ulong)bytes.Length);
        writer.Write(bytes);
    }

    private static void WriteValue(BinaryWriter writer, GgufValue value)
    {
        if (value.Type == GgufValueType.Array)
        {
            var elementType = value.ElementType!.Value;
            var items = (Array)value.Value;
            writer.Write((uint)elementType);
            writer.Write((ulong)items.Length);
            foreach (var item in items) WriteScalar(writer, elementType, item!);
        }
        else
        {
            WriteScalar(writer, value.Type, value.Value);
        }
    }

    private static void WriteScalar(BinaryWriter writer, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.UInt8: writer.Write((byte)value); break;
            case GgufValueType.Int8: writer.Write((sbyte)value); break;
            case GgufValueType.UInt16: writer.Write((ushort)value); break;
            case GgufValueType.Int16: writer.Write((short)value); break;
            case GgufValueType.UInt32: writer.Write((uint)value); break;
            case GgufValueType.Int32: writer.Write((int)value); break;
            case GgufValueType.Float32: writer.Write((float)value); break;
            case GgufValueType.Bool: writer.Write((byte)((bool)value ? 1 : 0)); break;
            case GgufValueType.String: WriteString(writer, (string)value); break;
            case GgufValueType.UInt64: writer.Write((ulong)value); break;
            case GgufValueType.Int64: writer.Write((long)value); break;
            case GgufValueType.Float64: writer.Write((double)value); break;
            default: throw new NotSupportedException($"GGUF value type {type} cannot be written as a scalar.");
        }
    }

    private static void ValidateValue(string key, GgufValue value)
    {
        if (value.Type == GgufValueType.Array)
        {
            if (value.ElementType is not { } element || element == GgufValueType.Array)
                throw new ArgumentException($"GGUF metadata '{key}': an array needs a scalar element type.", nameof(value));
            if (value.Value is not Array array || array.GetType().GetElementType() != ClrType(element))
                throw new ArgumentException($"GGUF metadata '{key}': an array of {element} must hold a {ClrType(element).Name}[].", nameof(value));
        }
        else if (value.Value.GetType() != ClrType(value.Type))
        {
            throw new ArgumentException($"GGUF metadata '{key}': a {value.Type} value must be a {ClrType(value.Type).Name}, not {value.Value.GetType().Name}.", nameof(value));
        }
    }

    internal static Type ClrType(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        _ => throw new NotSupportedException($"GGUF value type {type} has no scalar CLR type."),
    };

    private sealed record PendingTensor(string Name, ulong[] Dimensions, GgmlType Type, Action<Stream> WriteData)
    {
        public ulong ByteCount => GgufTensorInfo.Bytes(Type, Dimensions.Aggregate(1UL, (a, d) => a * d));
    }

    /// <summary>Counts bytes written so offsets and padding work on non-seekable streams too.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Written { get; private set; }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Written += buffer.Length;
        }
    }
}
