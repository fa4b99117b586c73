using HuatuoAspire.Dashboard.Services;

namespace HuatuoAspire.Dashboard.UnitTests;

public sealed class SftDefaultsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sft-defaults-").FullName;

    private string Model(string config)
    {
        var folder = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), config);
        return folder;
    }

    [Fact]
    public void ATinyModelGetsSmallBatchesAndShortSequences()
    {
        var (defaults, parameters) = SftDefaults.For(Model("""{"hidden_size":64,"num_hidden_layers":2,"vocab_size":260,"intermediate_size":172,"num_attention_heads":4,"num_key_value_heads":2}"""));
        Assert.Same(SftDefaults.Tiny, defaults);
        Assert.InRange(parameters!.Value, 50_000, 200_000);
        Assert.True(defaults.BatchSize <= 8 && defaults.MaxSeqLen <= 512);
    }

    [Fact]
    public void AnEightBillionParameterLlamaGetsThePapersRecipe()
    {
        // Llama-3.1-8B's config.json: 8.03 B parameters.
        var (defaults, parameters) = SftDefaults.For(Model("""{"hidden_size":4096,"num_hidden_layers":32,"vocab_size":128256,"intermediate_size":14336,"num_attention_heads":32,"num_key_value_heads":8,"tie_word_embeddings":false}"""));
        Assert.Same(SftDefaults.Reference, defaults);
        Assert.InRange(parameters!.Value, 7_900_000_000, 8_100_000_000);
        Assert.Equal((128, 8192), (defaults.BatchSize, defaults.MaxSeqLen));
    }

    [Fact]
    public void AFolderWithoutAReadableConfigGetsThePapersRecipe()
    {
        Assert.Equal((SftDefaults.Reference, (long?)null), SftDefaults.For(Path.Combine(_dir, "absent")));
        Assert.Equal((SftDefaults.Reference, (long?)null), SftDefaults.For(Model("{ not json")));
        Assert.Equal((SftDefaults.Reference, (long?)null), SftDefaults.For(null));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
