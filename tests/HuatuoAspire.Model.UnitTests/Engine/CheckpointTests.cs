using HuatuoAspire.Model;
using HuatuoAspire.Model.Checkpoints;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.UnitTests.Engine;

public sealed class CheckpointTests
{
    [Theory]
    [InlineData(ModelArchitecture.Llama, ScalarType.Float32, 0L)]
    [InlineData(ModelArchitecture.Qwen2, ScalarType.Float16, 0L)]
    [InlineData(ModelArchitecture.Llama, ScalarType.BFloat16, 300_000L)]
    public void SavingAndLoadingGivesBitIdenticalTensors(ModelArchitecture arch, ScalarType dtype, long shardBytes)
    {
        using var original = CausalLanguageModel.FromPretrained(TinyModels.Folder(arch), ModelPlacement.Cpu);
        var dir = TinyModels.NewFolder("roundtrip");
        using (var converted = new CausalLanguageModel(original.Config, new ModelPlacement(CPU, dtype)))
        {
            using (no_grad())
            {
                foreach (var (name, p) in converted.named_parameters()) p.copy_(original.get_parameter(name)!);
            }
            converted.SavePretrained(dir, maxShardBytes: shardBytes == 0 ? 5L << 30 : shardBytes);
            using var reloaded = CausalLanguageModel.FromPretrained(dir, new ModelPlacement(CPU, dtype));
            foreach (var (name, p) in converted.named_parameters())
            {
                var q = reloaded.get_parameter(name)!;
                Assert.Equal(p.dtype, q.dtype);
                Assert.True(p.bytes.SequenceEqual(q.bytes), $"{name} differs after the round trip");
            }
        }
        Assert.Equal(shardBytes > 0, File.Exists(Path.Combine(dir, HuggingFaceCheckpoint.IndexFileName)));
        if (shardBytes > 0) Assert.True(Directory.GetFiles(dir, "model-*-of-*.safetensors").Length > 1);
    }

    [Fact]
    public void AMissingTensorIsAnErrorThatNamesIt()
    {
        var dir = CopyOf(TinyModels.Folder(ModelArchitecture.Llama));
        using (var model = CausalLanguageModel.FromPretrained(dir, ModelPlacement.Cpu))
        {
            HuggingFaceCheckpoint.Save(model, dir, skip: n => n == "model.layers.3.mlp.up_proj.weight");
        }
        var error = Assert.Throws<ModelFormatException>(() => CausalLanguageModel.FromPretrained(dir, ModelPlacement.Cpu));
        Assert.Contains("Missing: model.layers.3.mlp.up_proj.weight", error.Message);
    }

    [Fact]
    public void AnUnexpectedTensorOrAWrongShapeIsAnErrorThatNamesIt()
    {
        var dir = CopyOf(TinyModels.Folder(ModelArchitecture.Qwen2));
        var config = ModelConfig.Load(dir);
        // The same weights read as a model with one layer fewer: layer 5 is unexpected.
        (config with { NumHiddenLayers = 5 }).Save(dir);
        var unexpected = Assert.Throws<ModelFormatException>(() => CausalLanguageModel.FromPretrained(dir, ModelPlacement.Cpu));
        Assert.Contains("Unexpected: model.layers.5.", unexpected.Message);

        (config with { IntermediateSize = 360 }).Save(dir);
        var shape = Assert.Throws<ModelFormatException>(() => CausalLanguageModel.FromPretrained(dir, ModelPlacement.Cpu));
        Assert.Contains("mlp.", shape.Message);
        Assert.Contains("[352, 128]", shape.Message.Replace("[128, 352]", "[352, 128]"));
    }

    [Fact]
    public void ATruncatedOrCorruptFileIsAClearError()
    {
        var dir = CopyOf(TinyModels.Folder(ModelArchitecture.Llama));
        var file = Path.Combine(dir, HuggingFaceCheckpoint.SingleFileName);
        var bytes = File.ReadAllBytes(file);

        File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]);
        var truncated = Assert.Throws<ModelFormatException>(() => CausalLanguageModel.FromPretrained(dir, ModelPlacement.Cpu));
        Assert.Contains("fall outside the data section", truncated.Message);

        var badHeader = (byte[])bytes.Clone();
        BitConverter.GetBytes(long.MaxValue).CopyTo(badHeader, 0);
        File.WriteAllBytes(file, badHeader);
        Assert.Contains("header length", Assert.Throws<ModelFormatException>(() => CausalLanguageModel.FromPretrained(dir, ModelPlacement.Cpu)).Message);

        File.WriteAllBytes(file, [1, 2, 3]);
        Assert.Contains("too short", Assert.Throws<ModelFormatException>(() => CausalLanguageModel.FromPretrained(dir, ModelPlacement.Cpu)).Message);
    }

    [Fact]
    public void TiedEmbeddingsHaveNoHeadParameterAndLoadWithOrWithoutAStoredHead()
    {
        using var qwen = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Qwen2), ModelPlacement.Cpu);
        Assert.Null(qwen.lm_head);
        Assert.DoesNotContain(qwen.named_parameters(), p => p.name == "lm_head.weight");
        Assert.True(qwen.IsIgnorableCheckpointTensor("lm_head.weight"));
        using var llama = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        Assert.NotNull(llama.lm_head);
        Assert.False(llama.IsIgnorableCheckpointTensor("lm_head.weight"));
    }

    private static string CopyOf(string source)
    {
        var dir = TinyModels.NewFolder("copy");
        foreach (var f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }
}
