namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>`huatuo bench generate` runs end to end on a model folder made by `huatuo model init`.</summary>
[Collection(CommandLineCollection.Name)]
public sealed class BenchGenerateCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("huatuo-cli-bench-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task BenchGenerateMeasuresATinyModelAndRejectsAFolderWithoutOne()
    {
        var model = Path.Combine(_dir, "llama");
        Assert.Equal(0, await Program.Main(["model", "init", "--arch", "llama", "--preset", "tiny", "--out", model]));
        Assert.Equal(0, await Program.Main(["bench", "generate", "--model", model, "--device", "cpu", "--threads", "1",
            "--prompt-tokens", "16", "--steps", "4", "--batch", "2"]));
        Assert.NotEqual(0, await Program.Main(["bench", "generate", "--model", Path.Combine(_dir, "missing"), "--device", "cpu"]));
    }
}
