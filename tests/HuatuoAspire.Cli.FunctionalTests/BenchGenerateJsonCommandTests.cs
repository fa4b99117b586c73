using Spectre.Console;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>`huatuo bench generate --json` adds the structured-output figures: decode free and under json_object, the mask's cost, in the closing tail too.</summary>
[Collection(CommandLineCollection.Name)]
public sealed class BenchGenerateJsonCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("huatuo-cli-bench-json-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task BenchGenerateWithJsonPrintsTheCostOfTheMask()
    {
        var model = Path.Combine(_dir, "llama");
        Assert.Equal(0, await Program.Main(["model", "init", "--arch", "llama", "--preset", "tiny", "--out", model]));
        var output = new StringWriter();
        var original = AnsiConsole.Console;
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No });
        AnsiConsole.Console.Profile.Width = 500; // one row, one line
        try
        {
            Assert.Equal(0, await Program.Main(["bench", "generate", "--model", model, "--device", "cpu", "--threads", "1",
                "--prompt-tokens", "16", "--steps", "4", "--batch", "2", "--json"]));
        }
        finally
        {
            AnsiConsole.Console = original;
        }
        var text = output.ToString();
        Assert.Matches(@"json: response format\s*│\s*json_object", text);
        Assert.Contains("json: decode batch 1, T = 1, free", text);
        Assert.Matches(@"json: decode batch 1, T = 1, constrained\s*│\s*[\d.]+ tok/s", text);
        Assert.Contains("json: mask + cursor per token", text);
        Assert.Contains("json: same in the closing tail", text);
        Assert.Contains("json: closing distances of a new state (once)", text);
        Assert.Contains("261 tokens", text); // the byte tokenizer's vocabulary
    }
}
