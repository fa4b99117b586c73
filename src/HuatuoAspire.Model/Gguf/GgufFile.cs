using System.Runtime.InteropServices;
using System.Text;

namespace HuatuoAspire.Model.Gguf;

/// <summary>
/// A parsed GGUF header (metadata and tensor infos) with access to tensor data, for tests and inspection.
/// Malformed files fail with an error naming the file, the byte offset and what was expected there.
/// </summary>
public sealed class GgufFile
{
    private GgufFile(string path, uint version, uint alignment, long dataOffset,
        IReadOnlyDictionary<string, GgufValue> metadata, IReadOnlyList<string> metadataKeys, IReadOnlyList<GgufTensorInfo> tensors)
    {
        Path = path;
        Version = version;
        Alignment = alignment;
        DataOffset = dataOffset;
        Metadata = metadata;
        MetadataKeys = metadataKeys;
        Tensors = tensors;
    }

    public string Path { get; }
    public uint Version { get; }
    public uint Alignment { get; }

    /// <summary>Absolute file offset of the data section; tensor offsets are relative to it.</summary>
    public long DataOffset { get; }

    public IReadOnlyDictionary<string, GgufValue> Metadata { get; }

    /// <summary>Metadata keys in file order.</summary>
    public IReadOnlyList<string> MetadataKeys { get; }

    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    public GgufTensorInfo Tensor(string name) =>
        Tensors.FirstOrDefault(t => t.Name == name) ?? throw new KeyNotFoundException($"GGUF file '{Path}' has no tensor '{name}'.");

    /// <summary>Reads a tensor's values as float32 (F16 widened), in file order (fastest dimension first).</summary>
    public float[] ReadFloats(string name)
    {
        var info = Tensor(name);
        using var file = File.OpenRead(Path);
        file.Position = DataOffset + (long)info.Offset;
        var bytes = new byte[info.ByteCount];
        file.ReadExactly(bytes);
        return info.Type switch
        {
            GgmlType.F32 => MemoryMarshal.Cast<byte, float>(bytes).ToArray(),
            GgmlType.F16 => MemoryMarshal.Cast<byte, Half>(bytes).ToArray().Select(h => (float)h).ToArray(),
            GgmlType.BF16 => MemoryMarshal.Cast<byte, ushort>(bytes).ToArray().Select(b => BitConverter.Int32BitsToSingle(b << 16)).ToArray(),
            GgmlType.Q8_0 => DequantizeQ8_0(bytes),
            _ => throw new NotSupportedException($"GGUF tensor '{name}' has type {info.Type}; F32, F16, BF16 and Q8_0 are read here."),
        };
    }

    private static float[] DequantizeQ8_0(byte[] bytes)
    {
        var blocks = bytes.Length / 34;
        var values = new float[blocks * GgufTensorInfo.Q8Block];
        for (var b = 0; b < blocks; b++)
        {
            var d = (float)BitConverter.ToHalf(bytes, b * 34);
            for (var i = 0; i < GgufTensorInfo.Q8Block; i++) values[b * GgufTensorInfo.Q8Block + i] = d * (sbyte)bytes[b * 34 + 2 + i];
        }
        return values;
    }

    public static GgufFile Read(string path)
    {
        using var stream = File.OpenRead(path);
        var reader = new HeaderReader(stream, path);
        var magic = reader.UInt32("magic");
        if (magic != GgufFormat.Magic)
            throw new InvalidDataException($"'{path}' is not a GGUF file: it starts with 0x{magic:X8}, not \"GGUF\".");
        var version = reader.UInt32("version");
        if (version != GgufFormat.Version)
            throw new InvalidDataException($"'{path}' is GGUF version {version}; only version {GgufFormat.Version} is supported.");
        var tensorCount = reader.Count("tensor count");
        var kvCount = reader.Count("metadata count");

        var metadata = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        var keys = new List<string>();
        for (ulong i = 0; i < kvCount; i++)
        {
            var key = reader.String($"metadata key #{i}");
            var type = reader.ValueType($"type of metadata '{key}'");
            var value = reader.Value(type, $"metadata '{key}'");
            if (!metadata.TryAdd(key, value)) throw reader.Error($"metadata key '{key}' appears twice");
            keys.Add(key);
        }

        var alignment = GgufFormat.DefaultAlignment;
        if (metadata.TryGetValue(GgufFormat.AlignmentKey, out var alignmentValue))
        {
            alignment = alignmentValue.Value is uint a && a != 0 && (a & (a - 1)) == 0
                ? a
                : throw new InvalidDataException($"'{path}': {GgufFormat.AlignmentKey} must be a power-of-two uint32, found {alignmentValue.Type} {alignmentValue.Value}.");
        }

        var tensors = new List<GgufTensorInfo>();
        for (ulong i = 0; i < tensorCount; i++)
        {
            var name = reader.String($"tensor #{i} name");
            var nDims = reader.UInt32($"dimension count of tensor '{name}'");
            if (nDims is < 1 or > 4) throw reader.Error($"tensor '{name}' has {nDims} dimensions (ggml allows 1 to 4)");
            var dims = new ulong[nDims];
            for (var d = 0; d < nDims; d++) dims[d] = reader.UInt64($"dimension {d} of tensor '{name}'");
            var rawType = reader.UInt32($"type of tensor '{name}'");
            if (!Enum.IsDefined(typeof(GgmlType), rawType))
                throw reader.Error($"tensor '{name}' has ggml type {rawType}; only F32 (0) and F16 (1) are read here");
            var offset = reader.UInt64($"offset of tensor '{name}'");
            if (offset % alignment != 0) throw reader.Error($"tensor '{name}' offset {offset} is not a multiple of the alignment {alignment}");
            tensors.Add(new GgufTensorInfo(name, dims, (GgmlType)rawType, offset));
        }

        var dataOffset = (long)GgufFormat.AlignUp((ulong)stream.Position, alignment);
        foreach (var t in tensors)
        {
            if (dataOffset + (long)t.Offset + (long)t.ByteCount > stream.Length)
                throw new InvalidDataException($"'{path}': tensor '{t.Name}' ({t.ByteCount} bytes at data offset {t.Offset}) runs past the end of the file ({stream.Length} bytes).");
        }
        return new GgufFile(path, version, alignment, dataOffset, metadata, keys, tensors);
    }

    private sealed class HeaderReader(Stream stream, string path)
    {
        private readonly BinaryReader _reader = new(stream, Encoding.UTF8, leaveOpen: true);

        public InvalidDataException Error(string what) => new($"'{path}' at byte {stream.Position}: {what}.");

        public uint UInt32(string what) => Guard(what, 4, () => _reader.ReadUInt32());
        public ulong UInt64(string what) => Guard(what, 8, () => _reader.ReadUInt64());

        public ulong Count(string what)
        {
            var n = UInt64(what);
            // Every entry takes at least 8 bytes, so a larger count cannot be genuine.
            if (n > (ulong)(stream.Length - stream.Position) / 8) throw Error($"{what} {n} is larger than the file can hold");
            return n;
        }

        public GgufValueType ValueType(string what)
        {
            var raw = UInt32(what);
            return Enum.IsDefined(typeof(GgufValueType), raw) ? (GgufValueType)raw : throw Error($"{what} is {raw}, not a GGUF value type (0..12)");
        }

        public string String(string what)
        {
            var length = UInt64($"length of {what}");
            if (length > (ulong)(stream.Length - stream.Position)) throw Error($"{what} claims {length} bytes, past the end of the file");
            var bytes = _reader.ReadBytes((int)length);
            return Encoding.UTF8.GetString(bytes);
        }

        public GgufValue Value(GgufValueType type, string what)
        {
            if (type != GgufValueType.Array) return new GgufValue(type, Scalar(type, what));
            var elementType = ValueType($"element type of {what}");
            if (elementType == GgufValueType.Array) throw Error($"{what} is an array of arrays, which this reader does not support");
            var count = Count($"length of {what}");
            var items = Array.CreateInstance(GgufWriter.ClrType(elementType), (int)count);
            for (var i = 0; i < (int)count; i++) items.SetValue(Scalar(elementType, $"{what}[{i}]"), i);
            return new GgufValue(type, items, elementType);
        }

        private object Scalar(GgufValueType type, string what) => type switch
        {
            GgufValueType.UInt8 => Guard(what, 1, () => _reader.ReadByte()),
            GgufValueType.Int8 => Guard(what, 1, () => _reader.ReadSByte()),
            GgufValueType.UInt16 => Guard(what, 2, () => _reader.ReadUInt16()),
            GgufValueType.Int16 => Guard(what, 2, () => _reader.ReadInt16()),
            GgufValueType.UInt32 => Guard(what, 4, () => _reader.ReadUInt32()),
            GgufValueType.Int32 => Guard(what, 4, () => _reader.ReadInt32()),
            GgufValueType.Float32 => Guard(what, 4, () => _reader.ReadSingle()),
            GgufValueType.Bool => Guard(what, 1, () => _reader.ReadByte() switch
            {
                0 => false,
                1 => true,
                var b => throw Error($"{what} is a bool stored as {b}, not 0 or 1"),
            }),
            GgufValueType.String => String(what),
            GgufValueType.UInt64 => Guard(what, 8, () => _reader.ReadUInt64()),
            GgufValueType.Int64 => Guard(what, 8, () => _reader.ReadInt64()),
            GgufValueType.Float64 => Guard(what, 8, () => _reader.ReadDouble()),
            _ => throw Error($"{what} has unsupported type {type}"),
        };

        private T Guard<T>(string what, int size, Func<T> read)
        {
            if (stream.Length - stream.Position < size) throw Error($"the file ends where {what} ({size} bytes) should be");
            return read();
        }
    }
}
