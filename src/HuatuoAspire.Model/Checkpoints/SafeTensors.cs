using System.IO.MemoryMappedFiles;
using Microsoft.Win32.SafeHandles;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Model.Checkpoints;

/// <summary>The element types of the safetensors format, with their names in the file header.</summary>
public enum SafeTensorDType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL }

public static class SafeTensorDTypes
{
    public static int ElementSize(this SafeTensorDType t) => t switch
    {
        SafeTensorDType.F64 or SafeTensorDType.I64 => 8,
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.I16 => 2,
        _ => 1,
    };

    public static bool TryParse(string name, out SafeTensorDType type) => Enum.TryParse(name, ignoreCase: false, out type);
}

/// <summary>One tensor's entry in a safetensors header: dtype, row-major shape and byte range in the data section.</summary>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public long ByteLength => End - Begin;
}

/// <summary>
/// A safetensors file opened for reading: the header is parsed and checked; tensor bytes are read either from a memory
/// map (<see cref="GetBytes(SafeTensorInfo, long, int)"/>) or with positioned reads straight into a caller's buffer
/// (<see cref="ReadInto"/>), which is how weights reach tensors: the read pages stay in the page cache, not in this
/// process's resident memory, so a loaded model costs its weight bytes once.
/// Format: 8-byte little-endian header length N, N bytes of JSON header, then the data section.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _dataStart;
    private readonly SafeFileHandle _handle;

    private SafeTensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer,
        long dataStart, Dictionary<string, SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePointer;
        _dataStart = dataStart;
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        Tensors = tensors;
        Metadata = metadata;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public static SafeTensorsFile Open(string path)
    {
        var length = new FileInfo(path).Length;
        if (length < 8) throw new ModelFormatException($"{path}: {length} bytes is too short for a safetensors file.");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        pointer += view.PointerOffset;
        try
        {
            var headerLength = *(long*)pointer;
            if (headerLength <= 0 || headerLength > length - 8 || headerLength > 100_000_000)
            {
                throw new ModelFormatException($"{path}: header length {headerLength} does not fit the file ({length} bytes).");
            }
            var header = Encoding.UTF8.GetString(pointer + 8, (int)headerLength);
            var (tensors, metadata) = ParseHeader(path, header, length - 8 - headerLength);
            return new SafeTensorsFile(path, map, view, pointer, 8 + headerLength, tensors, metadata);
        }
        catch
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>The raw little-endian bytes of a tensor, straight from the memory map; at most 2 GiB per span.</summary>
    public ReadOnlySpan<byte> GetBytes(SafeTensorInfo info, long offset, int count)
    {
        if (offset < 0 || count < 0 || offset + count > info.ByteLength) throw new ArgumentOutOfRangeException(nameof(offset));
        return new ReadOnlySpan<byte>(_base + _dataStart + info.Begin + offset, count);
    }

    /// <summary>Reads <paramref name="destination"/>.Length bytes of a tensor, from <paramref name="offset"/> within it.</summary>
    public void ReadInto(SafeTensorInfo info, long offset, Span<byte> destination)
    {
        if (offset < 0 || offset + destination.Length > info.ByteLength) throw new ArgumentOutOfRangeException(nameof(offset));
        var position = _dataStart + info.Begin + offset;
        while (destination.Length > 0)
        {
            var read = RandomAccess.Read(_handle, destination, position);
            if (read <= 0) throw new ModelFormatException($"{Path}: '{info.Name}' ends early (the file is truncated).");
            destination = destination[read..];
            position += read;
        }
    }

    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var info = Tensors.TryGetValue(name, out var i) ? i : throw new KeyNotFoundException($"{Path} has no tensor '{name}'.");
        if (info.ByteLength > int.MaxValue) throw new InvalidOperationException($"{name} is larger than 2 GiB: read it in parts.");
        return GetBytes(info, 0, (int)info.ByteLength);
    }

    public void Dispose()
    {
        _handle.Dispose();
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    private static (Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ParseHeader(string path, string header, long dataLength)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(header)?.AsObject() ?? throw new ModelFormatException($"{path}: the header is empty.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new ModelFormatException($"{path}: the header is not a JSON object: {e.Message}");
        }
        var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, node) in root)
        {
            if (name == "__metadata__")
            {
                foreach (var (k, v) in node!.AsObject()) metadata[k] = v!.GetValue<string>();
                continue;
            }
            try
            {
                var entry = node!.AsObject();
                var dtypeName = entry["dtype"]!.GetValue<string>();
                if (!SafeTensorDTypes.TryParse(dtypeName, out var dtype))
                {
                    throw new ModelFormatException($"{path}: tensor '{name}' has unsupported dtype '{dtypeName}'.");
                }
                var shape = entry["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                var offsets = entry["data_offsets"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                {
                    throw new ModelFormatException(
                        $"{path}: tensor '{name}' data_offsets [{string.Join(", ", offsets)}] fall outside the data section ({dataLength} bytes).");
                }
                var info = new SafeTensorInfo(name, dtype, shape, offsets[0], offsets[1]);
                if (shape.Any(d => d < 0) || info.ElementCount * dtype.ElementSize() != info.ByteLength)
                {
                    throw new ModelFormatException(
                        $"{path}: tensor '{name}' of shape [{string.Join(", ", shape)}] {dtype} needs {info.ElementCount * dtype.ElementSize()} bytes, its offsets give {info.ByteLength}.");
                }
                tensors[name] = info;
            }
            catch (Exception e) when (e is InvalidOperationException or NullReferenceException or FormatException)
            {
                throw new ModelFormatException($"{path}: tensor '{name}' has a malformed header entry ({e.Message}).");
            }
        }
        return (tensors, metadata);
    }
}

/// <summary>Writes safetensors files tensor by tensor (the header first, then each tensor's bytes streamed in order).</summary>
public static class SafeTensorsWriter
{
    /// <summary>A tensor to write: its header entry and a callback that streams its bytes.</summary>
    public sealed record Entry(string Name, SafeTensorDType DType, long[] Shape, Action<Stream> WriteBytes)
    {
        public long ByteLength => Shape.Aggregate(1L, (a, b) => a * b) * DType.ElementSize();
    }

    public static void Write(string path, IReadOnlyList<Entry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var e in entries)
        {
            header[e.Name] = new JsonObject
            {
                ["dtype"] = e.DType.ToString(),
                ["shape"] = new JsonArray(e.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + e.ByteLength),
            };
            offset += e.ByteLength;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        // The data section starts 8-byte aligned: pad the header with spaces, as the reference implementation does.
        var padded = (headerBytes.Length + 7) / 8 * 8;

        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<byte> length = stackalloc byte[8];
            BitConverter.TryWriteBytes(length, (long)padded);
            stream.Write(length);
            stream.Write(headerBytes);
            for (var i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var e in entries)
            {
                var before = stream.Position;
                e.WriteBytes(stream);
                if (stream.Position - before != e.ByteLength)
                {
                    throw new InvalidOperationException($"{e.Name}: wrote {stream.Position - before} bytes, the header says {e.ByteLength}.");
                }
            }
        }
        // Never leave a half-written checkpoint under the final name.
        File.Move(temp, path, overwrite: true);
    }
}
