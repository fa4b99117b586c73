using Spectre.Console;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>Runs `huatuo` in this process with Spectre's console captured (wide, no colour).</summary>
internal static class CapturedCommandLine
{
    public static async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        var writer = new StringWriter();
        var original = AnsiConsole.Console;
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No });
        AnsiConsole.Console.Profile.Width = 500; // one message, one line
        try
        {
            return (await Program.RunAsync(args, CancellationToken.None), writer.ToString());
        }
        finally
        {
            AnsiConsole.Console = original;
        }
    }
}
