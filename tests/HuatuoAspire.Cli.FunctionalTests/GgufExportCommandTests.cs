using HuatuoAspire.Model.Gguf;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>`huatuo model init` then `huatuo model export --format gguf` on real files.</summary>
[Collection(CommandLineCollection.Name)]
public sealed class GgufExportCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("huatuo-cli-gguf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task ModelExportWritesAGgufFileOfTheRequestedPrecision()
    {
        var model = Path.Combine(_dir, "qwen2");
        Assert.Equal(0, await Program.Main(["model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", model]));

        var f32 = Path.Combine(_dir, "out", "model-f32.gguf");
        Assert.Equal(0, await Program.Main(["model", "export", "--model", model, "--format", "gguf", "--out", f32]));
        var f16 = Path.Combine(_dir, "out", "model-f16.gguf");
        Assert.Equal(0, await Program.Main(["model", "export", "--model", model, "--format", "gguf", "--dtype", "f16", "--out", f16]));

        var full = GgufFile.Read(f32);
        var half = GgufFile.Read(f16);
        Assert.Equal("qwen2", full.Metadata["general.architecture"].AsString());
        Assert.Equal(GgmlType.F32, full.Tensor("blk.0.attn_q.weight").Type);
        Assert.Equal(GgmlType.F16, half.Tensor("blk.0.attn_q.weight").Type);
        Assert.Equal(1u, half.Metadata["general.file_type"].AsUInt32());
        Assert.InRange(new FileInfo(f16).Length, new FileInfo(f32).Length * 0.45, new FileInfo(f32).Length * 0.6);
    }

    [Fact]
    public async Task ModelExportOfAFolderWithoutWeightsFailsAndWritesNothing()
    {
        var empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        var output = Path.Combine(_dir, "x.gguf");
        Assert.Equal(1, await Program.Main(["model", "export", "--model", empty, "--out", output]));
        Assert.False(File.Exists(output));
        Assert.NotEqual(0, await Program.Main(["model", "export", "--model", empty, "--format", "onnx", "--out", output]));
    }
}
