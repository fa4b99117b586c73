using System.CommandLine;
using HuatuoAspire.Cli.Commands;
using HuatuoAspire.Cli.Errors;

namespace HuatuoAspire.Cli;

public static class Program
{
    public static Task<int> Main(string[] args) => RunAsync(args, CancellationToken.None);

    /// <summary>The command line with a token that stops it as Ctrl+C does (tests interrupt a command this way).</summary>
    public static async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        // Decode-heavy commands: libtorch's OpenMP threads wait passively so the decode kernel's workers get the cores
        // (must happen before libtorch loads; see OpenMpWaitPolicy for the figures).
        if (args is ["serve" or "up" or "generate" or "chat", ..] or ["bench", "generate" or "serve", ..])
        {
            HuatuoAspire.Model.OpenMpWaitPolicy.PreferPassive();
        }
        var root = new RootCommand("huatuo: the HuatuoAspire command line (medical reasoning pipeline, training, serving).");
        var verbose = new Option<bool>("--verbose") { Description = "On an error, also print its stack trace.", Recursive = true };
        root.Options.Add(verbose);
        root.Subcommands.Add(UpCommand.Create());
        root.Subcommands.Add(MigrateCommand.Create());
        root.Subcommands.Add(ImportCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(UploadCommands.Create());
        root.Subcommands.Add(DownloadCommands.Create());
        root.Subcommands.Add(StatusCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(ModelCommands.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(ConstructCommands.CreateConstruct());
        root.Subcommands.Add(SearchCommands.CreateSearch());
        root.Subcommands.Add(VerifierCommands.CreateVerifier());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(ChatCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(DemoLearnCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());

        // Benchmarks print figures; speed goals live here, never in timed tests.
        var bench = new Command("bench", "Benchmarks that print figures.");
        bench.Subcommands.Add(BenchSearchCommands.CreateSearch());
        bench.Subcommands.Add(BenchServeCommand.Create());
        bench.Subcommands.Add(BenchTrainCommand.Create());
        bench.Subcommands.Add(BenchGenerateCommands.CreateGenerate());
        bench.Subcommands.Add(BenchLlamaCppCommand.Create());
        root.Subcommands.Add(bench);

        // Ctrl+C cancels the command's token; give long-running commands time to stop servers and flush files.
        // An exception that escapes a command is reported here as one line (CommandLineError), not as a stack trace.
        var parse = root.Parse(args);
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                ProcessTerminationTimeout = TimeSpan.FromSeconds(60),
                EnableDefaultExceptionHandler = false,
            }, cancellationToken);
        }
        catch (Exception e)
        {
            var interrupted = cancellationToken.IsCancellationRequested || e is OperationCanceledException { CancellationToken.IsCancellationRequested: true };
            return CommandLineError.Report(e, interrupted, parse.GetValue(verbose), Console.Error);
        }
    }
}
