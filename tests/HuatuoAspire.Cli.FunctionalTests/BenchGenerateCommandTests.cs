using Spectre.Console;

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

    [Fact]
    public async Task BenchGenerateWithInt8WeightsPutsLlamaCppOnTheQ8_0ExportBesideOurFigures()
    {
        var model = Path.Combine(_dir, "llama-int8");
        Assert.Equal(0, await Program.Main(["model", "init", "--arch", "llama", "--preset", "tiny", "--out", model]));
        var (exit, output) = await RunCapturedAsync("bench", "generate", "--model", model, "--device", "cpu", "--threads", "1",
            "--prompt-tokens", "16", "--steps", "4", "--batch", "2", "--dtype", "int8", "--compare-llama-cpp");
        Assert.True(exit == 0, output);
        Assert.Contains("int8 weights", output);
        Assert.Contains("llama.cpp (Q8_0)", output);
        // Prefill, decode and peak memory each carry llama.cpp's figure and the ratio.
        var lines = output.Split('\n');
        foreach (var figure in new[] { "prefill (16 tokens)", "decode, batch 1 ", "peak resident memory " })
        {
            var row = Assert.Single(lines, l => l.Contains(figure));
            Assert.Matches(@"\d \u00d7", row);
        }
        Assert.Contains("perplexity, fixed text", output);
        Assert.Contains("(peak − before loading) ÷ weight bytes", output);
        Assert.DoesNotContain("skipped", output);
    }

    [Fact]
    public async Task AnInt8RequestOnCudaOrAnUnknownDtypeIsRefusedBeforeLoading()
    {
        var model = Path.Combine(_dir, "llama");
        Assert.Equal(0, await Program.Main(["model", "init", "--arch", "llama", "--preset", "tiny", "--out", model]));
        Assert.NotEqual(0, await Program.Main(["generate", "--model", model, "--prompt", "Hi", "--dtype", "fp8"]));
        var error = Assert.Throws<ArgumentException>(() => HuatuoAspire.Model.ModelPlacement.ForWeights("cuda", "int8"));
        Assert.Contains("CPU only", error.Message);
    }

    private static async Task<(int ExitCode, string Output)> RunCapturedAsync(params string[] args)
    {
        var writer = new StringWriter();
        var original = AnsiConsole.Console;
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No });
        AnsiConsole.Console.Profile.Width = 300;
        try
        {
            return (await Program.Main(args), writer.ToString());
        }
        finally
        {
            AnsiConsole.Console = original;
        }
    }
}
