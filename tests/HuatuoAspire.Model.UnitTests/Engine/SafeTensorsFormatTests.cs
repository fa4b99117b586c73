using System.Buffers.Binary;
using System.Text;
using HuatuoAspire.Model.Checkpoints;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>The safetensors reader and writer against bytes laid out by hand from the format description.</summary>
public sealed class SafeTensorsFormatTests
{
    private static byte[] HandWritten(string header, params byte[][] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new List<byte>(new byte[8]);
        BinaryPrimitives.WriteInt64LittleEndian(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes), h.Length);
        bytes.AddRange(h);
        foreach (var d in data) bytes.AddRange(d);
        return bytes.ToArray();
    }

    [Fact]
    public void AHandWrittenFileReadsBackAndOurWriterProducesTheSameTensorBytes()
    {
        var dir = TinyModels.NewFolder("hand");
        var path = Path.Combine(dir, "hand.safetensors");
        var ids = BitConverter.GetBytes(5L).Concat(BitConverter.GetBytes(-9L)).ToArray();
        var w = BitConverter.GetBytes(1.5f).Concat(BitConverter.GetBytes(-2.25f)).ToArray();
        File.WriteAllBytes(path, HandWritten(
            """{"__metadata__":{"format":"pt"},"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"w":{"dtype":"F32","shape":[1,2],"data_offsets":[16,24]}}""",
            ids, w));
        using (var file = SafeTensorsFile.Open(path))
        {
            Assert.Equal("pt", file.Metadata["format"]);
            Assert.Equal(SafeTensorDType.I64, file.Tensors["ids"].DType);
            Assert.Equal([1L, 2L], file.Tensors["w"].Shape);
            Assert.Equal(ids, file.GetBytes("ids").ToArray());
            Assert.Equal(w, file.GetBytes("w").ToArray());
        }

        var written = Path.Combine(dir, "written.safetensors");
        SafeTensorsWriter.Write(written,
        [
            new SafeTensorsWriter.Entry("ids", SafeTensorDType.I64, [2], s => s.Write(ids)),
            new SafeTensorsWriter.Entry("w", SafeTensorDType.F32, [1, 2], s => s.Write(w)),
        ]);
        var raw = File.ReadAllBytes(written);
        Assert.Equal(0, BinaryPrimitives.ReadInt64LittleEndian(raw) % 8); // the header is padded to 8-byte alignment
        using var again = SafeTensorsFile.Open(written);
        Assert.Equal(ids, again.GetBytes("ids").ToArray());
        Assert.Equal(w, again.GetBytes("w").ToArray());
    }

    [Fact]
    public void IntegerDataWhereAWeightBelongsIsAnErrorNamingTheTensor()
    {
        var source = TinyModels.Folder(ModelArchitecture.Llama);
        var dir = TinyModels.NewFolder("int-weight");
        foreach (var f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var file = Path.Combine(dir, HuggingFaceCheckpoint.SingleFileName);
        var entries = new List<SafeTensorsWriter.Entry>();
        using (var st = SafeTensorsFile.Open(Path.Combine(source, HuggingFaceCheckpoint.SingleFileName)))
        {
            foreach (var (name, info) in st.Tensors)
            {
                var bytes = st.GetBytes(name).ToArray();
                // Same byte count, wrong kind: the final norm's float32 weights relabelled as int32.
                var dtype = name == "model.norm.weight" ? SafeTensorDType.I32 : info.DType;
                entries.Add(new SafeTensorsWriter.Entry(name, dtype, info.Shape, s => s.Write(bytes)));
            }
        }
        SafeTensorsWriter.Write(file, entries);
        var e = Assert.Throws<ModelFormatException>(() => CausalLanguageModel.FromPretrained(dir, ModelPlacement.Cpu));
        Assert.Contains("'model.norm.weight' is I32", e.Message);
        Assert.Contains(file, e.Message);
    }
}
