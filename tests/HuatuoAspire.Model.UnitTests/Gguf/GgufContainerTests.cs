using System.Text;
using System.Text.Json.Nodes;
using HuatuoAspire.Model.Gguf;

namespace HuatuoAspire.Model.UnitTests.Gguf;

public sealed class GgufContainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("huatuo-gguf-container-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathFor(string name) => Path.Combine(_dir, name);

    private static GgufWriter SampleWriter(uint alignment = GgufFormat.DefaultAlignment)
    {
        var writer = new GgufWriter(alignment);
        writer.AddMetadata("general.architecture", GgufValue.String("llama"));
        writer.AddMetadata("general.name", GgufValue.String("tiny 医学 ✓"));
        writer.AddMetadata("llama.block_count", GgufValue.UInt32(3));
        writer.AddMetadata("test.int", GgufValue.Int32(-7));
        writer.AddMetadata("test.u64", GgufValue.UInt64(1UL << 40));
        writer.AddMetadata("llama.rope.freq_base", GgufValue.Float32(500000f));
        writer.AddMetadata("test.flag", GgufValue.Bool(true));
        writer.AddMetadata("tokenizer.ggml.tokens", GgufValue.Strings(["a", "Ġb", "<|eot_id|>", ""]));
        writer.AddMetadata("tokenizer.ggml.token_type", GgufValue.Int32s([1, 1, 3, 5]));
        writer.AddMetadata("test.floats", GgufValue.Float32s([0.5f, -1.25f]));
        writer.AddTensor("a.weight", [3, 2], GgmlType.F32, new float[] { 1, 2, 3, 4, 5, 6 });
        writer.AddTensor("b.weight", [5], GgmlType.F16, new float[] { 0.1f, -2f, 65504f, 1f / 3, 1e-8f });
        writer.AddTensor("c.weight", [1], GgmlType.F32, new float[] { 42 });
        return writer;
    }

    [Fact]
    public void WrittenFileReadsBackWithEveryValueAndTensor()
    {
        var path = PathFor("sample.gguf");
        SampleWriter().WriteTo(path);
        var file = GgufFile.Read(path);

        Assert.Equal(3u, file.Version);
        Assert.Equal(32u, file.Alignment);
        Assert.Equal(0, file.DataOffset % 32);
        Assert.Equal("tiny 医学 ✓", file.Metadata["general.name"].AsString());
        Assert.Equal(3u, file.Metadata["llama.block_count"].AsUInt32());
        Assert.Equal(-7, (int)file.Metadata["test.int"].Value);
        Assert.Equal(1UL << 40, (ulong)file.Metadata["test.u64"].Value);
        Assert.Equal(500000f, file.Metadata["llama.rope.freq_base"].AsFloat32());
        Assert.True(file.Metadata["test.flag"].AsBool());
        Assert.Equal(["a", "Ġb", "<|eot_id|>", ""], file.Metadata["tokenizer.ggml.tokens"].AsStrings());
        Assert.Equal([1, 1, 3, 5], file.Metadata["tokenizer.ggml.token_type"].AsInt32s());
        Assert.Equal(["general.architecture", "general.name"], file.MetadataKeys.Take(2));

        Assert.Equal(["a.weight", "b.weight", "c.weight"], file.Tensors.Select(t => t.Name));
        Assert.All(file.Tensors, t => Assert.Equal(0UL, t.Offset % 32));
        Assert.Equal([3UL, 2UL], file.Tensor("a.weight").Dimensions);
        Assert.Equal([1f, 2, 3, 4, 5, 6], file.ReadFloats("a.weight"));
        Assert.Equal(GgmlType.F16, file.Tensor("b.weight").Type);
        Assert.Equal(new[] { 0.1f, -2f, 65504f, 1f / 3, 1e-8f }.Select(v => (float)(Half)v), file.ReadFloats("b.weight"));
        Assert.Equal([42f], file.ReadFloats("c.weight"));
    }

    [Fact]
    public void LayoutFollowsTheSpecByteForByte()
    {
        var writer = new GgufWriter();
        writer.AddMetadata("k", GgufValue.UInt32(7));
        writer.AddTensor("t", [2], GgmlType.F16, new float[] { 1f, -2f });
        using var stream = new MemoryStream();
        writer.WriteTo(stream);
        var bytes = stream.ToArray();

        var expected = new List<byte>();
        expected.AddRange("GGUF"u8.ToArray());
        expected.AddRange(BitConverter.GetBytes(3u));
        expected.AddRange(BitConverter.GetBytes(1UL)); // tensors
        expected.AddRange(BitConverter.GetBytes(1UL)); // kvs
        expected.AddRange(BitConverter.GetBytes(1UL)); expected.Add((byte)'k');
        expected.AddRange(BitConverter.GetBytes(4u)); expected.AddRange(BitConverter.GetBytes(7u));
        expected.AddRange(BitConverter.GetBytes(1UL)); expected.Add((byte)'t');
        expected.AddRange(BitConverter.GetBytes(1u)); expected.AddRange(BitConverter.GetBytes(2UL));
        expected.AddRange(BitConverter.GetBytes(1u)); expected.AddRange(BitConverter.GetBytes(0UL));
        while (expected.Count % 32 != 0) expected.Add(0);
        expected.AddRange([0x00, 0x3C, 0x00, 0xC0]); // IEEE half 1.0 and -2.0
        while (expected.Count % 32 != 0) expected.Add(0);
        Assert.Equal(expected.ToArray(), bytes);
    }

    [Fact]
    public void CustomAlignmentIsRecordedAndHonoured()
    {
        var path = PathFor("aligned.gguf");
        SampleWriter(alignment: 64).WriteTo(path);
        var file = GgufFile.Read(path);
        Assert.Equal(64u, file.Alignment);
        Assert.Equal(64u, file.Metadata[GgufFormat.AlignmentKey].AsUInt32());
        Assert.Equal(0, file.DataOffset % 64);
        Assert.All(file.Tensors, t => Assert.Equal(0UL, t.Offset % 64));
        Assert.Equal([42f], file.ReadFloats("c.weight"));
    }

    [Fact]
    public void LlamaCppParsesTheSameHeader()
    {
        var path = PathFor("sample.gguf");
        SampleWriter().WriteTo(path);
        var ours = GgufFile.Read(path);

        var info = LlamaOracle.Run("info", path);
        Assert.Equal(3, info["version"]!.GetValue<int>());
        var metadata = info["metadata"]!;
        Assert.Equal("tiny 医学 ✓", metadata["general"]!["name"]!.GetValue<string>());
        Assert.Equal(3, metadata["llama"]!["block_count"]!.GetValue<int>());
        Assert.Equal(500000.0, metadata["llama"]!["rope"]!["freq_base"]!.GetValue<double>());
        Assert.Equal(1L << 40, metadata["test"]!["u64"]!.GetValue<long>());
        Assert.True(metadata["test"]!["flag"]!.GetValue<bool>());
        Assert.Equal(["a", "Ġb", "<|eot_id|>", ""], metadata["tokenizer"]!["ggml"]!["tokens"]!.AsArray().Select(t => t!.GetValue<string>()));
        var tensors = info["tensors"]!.AsArray();
        Assert.Equal(ours.Tensors.Count, tensors.Count);
        foreach (var (theirs, mine) in tensors.Zip(ours.Tensors))
        {
            Assert.Equal(mine.Name, theirs!["name"]!.GetValue<string>());
            Assert.Equal(mine.Dimensions, theirs["dimensions"]!.AsArray().Select(d => d!.GetValue<ulong>()));
            Assert.Equal((int)mine.Type, theirs["ggmlType"]!.GetValue<int>());
            Assert.Equal(mine.Offset, theirs["offset"]!.GetValue<ulong>());
        }
    }

    [Fact]
    public void ReaderNamesWhatIsWrongAndWhere()
    {
        var notGguf = PathFor("not.gguf");
        File.WriteAllText(notGguf, "{\"json\": true}");
        Assert.Contains("not a GGUF file", Assert.Throws<InvalidDataException>(() => GgufFile.Read(notGguf)).Message);

        var good = PathFor("good.gguf");
        SampleWriter().WriteTo(good);
        var bytes = File.ReadAllBytes(good);

        var version2 = PathFor("v2.gguf");
        var patched = (byte[])bytes.Clone();
        patched[4] = 2;
        File.WriteAllBytes(version2, patched);
        Assert.Contains("version 2", Assert.Throws<InvalidDataException>(() => GgufFile.Read(version2)).Message);

        var truncatedHeader = PathFor("cut-header.gguf");
        File.WriteAllBytes(truncatedHeader, bytes[..60]);
        var headerError = Assert.Throws<InvalidDataException>(() => GgufFile.Read(truncatedHeader)).Message;
        Assert.Contains("cut-header.gguf", headerError);
        Assert.Contains("at byte", headerError);

        var truncatedData = PathFor("cut-data.gguf");
        File.WriteAllBytes(truncatedData, bytes[..^40]);
        Assert.Contains("runs past the end", Assert.Throws<InvalidDataException>(() => GgufFile.Read(truncatedData)).Message);
    }

    [Fact]
    public void WriterRejectsInconsistentInputBeforeWritingAnything()
    {
        var writer = new GgufWriter();
        writer.AddMetadata("a", GgufValue.UInt32(1));
        Assert.Throws<ArgumentException>(() => writer.AddMetadata("a", GgufValue.UInt32(2)));
        Assert.Throws<ArgumentException>(() => writer.AddMetadata("b", new GgufValue(GgufValueType.UInt32, 1)));
        Assert.Throws<ArgumentException>(() => writer.AddMetadata("c", new GgufValue(GgufValueType.Array, new[] { 1.0 }, GgufValueType.Float32)));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", [2, 3], GgmlType.F32, new float[5]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor(new string('x', 65), [1], GgmlType.F32, new float[1]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("z", [1, 1, 1, 1, 1], GgmlType.F32, new float[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter(alignment: 48));
    }

    [Fact]
    public void ProgressCountsTensorBytesUpToTheTotal()
    {
        var reports = new List<(long Written, long Total)>();
        var writer = SampleWriter();
        using var stream = new MemoryStream();
        writer.WriteTo(stream, new SynchronousProgress(reports.Add));
        Assert.Equal([(24L, 38L), (34L, 38L), (38L, 38L)], reports);
        Assert.Equal(38, writer.TensorBytes);
    }

    private sealed class SynchronousProgress(Action<(long, long)> report) : IProgress<(long Written, long Total)>
    {
        public void Report((long Written, long Total) value) => report(value);
    }

    [Fact]
    public void ShortTensorCallbackFailsAndLeavesNoFileBehind()
    {
        var writer = new GgufWriter();
        writer.AddTensor("short", [4], GgmlType.F32, stream => stream.Write(new byte[12]));
        var path = PathFor("short.gguf");
        var error = Assert.Throws<InvalidOperationException>(() => writer.WriteTo(path));
        Assert.Contains("'short' wrote 12 bytes", error.Message);
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(path + ".partial"));
    }
}
