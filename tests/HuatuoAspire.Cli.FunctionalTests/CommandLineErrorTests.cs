using HuatuoAspire.Benchmarks.LlamaCpp;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using HuatuoAspire.Cli.Errors;
using HuatuoAspire.LocalServers;
using HuatuoAspire.Model.Gguf;
using Npgsql;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>
/// An error at the command line is one line on stderr and an exit code, never "Unhandled exception" with a stack
/// trace; <c>--verbose</c> adds the trace. The real <c>huatuo</c> runs as its own process for the cases users met.
/// </summary>
public sealed class CommandLineErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"huatuo-cli-errors-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task UpWithADataFolderItCannotUseSaysWhyInOneLine()
    {
        // As root (CI), PostgreSQL runs as the postgres user, who cannot enter a folder private to root: the case users
        // met. As anyone else, a data folder under a plain file fails the same way, before anything starts.
        string dataDir;
        if (!OperatingSystem.IsWindows() && Environment.UserName == "root")
        {
            var parent = Directory.CreateDirectory(Path.Combine(_dir, "private")).FullName;
            File.SetUnixFileMode(parent, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            dataDir = Path.Combine(parent, "data");
        }
        else
        {
            var file = Path.Combine(_dir, "a-file");
            await File.WriteAllTextAsync(file, "");
            dataDir = Path.Combine(file, "data");
        }

        var outcome = await HuatuoProcess.RunAsync(["up", "--data-dir", dataDir, "--urls", $"http://127.0.0.1:{FreePort.Pick()}"]);

        var line = AssertOneLineError(outcome);
        Assert.Equal(ExitCodes.EnvironmentRefused, outcome.ExitCode);
        Assert.Contains(dataDir, line);
    }

    [Fact]
    public async Task EvalAgainstAnEndpointThatRefusesEveryConnectionEndsWithoutAStackTrace()
    {
        var outcome = await HuatuoProcess.RunAsync(["eval", "--data", Checkout.Path("tests", "HuatuoAspire.Evaluation.UnitTests", "data", "sample_benchmarks.json"),
            "--url", $"http://127.0.0.1:{FreePort.Pick()}/v1", "--model", "m", "--limit", "1", "--max-retries", "1", "--out", Path.Combine(_dir, "eval")]);

        // Every question failed after its retries: counted, kept for a rerun, and said so; the process does not crash.
        Assert.True(outcome.ExitCode == 1, $"exit {outcome.ExitCode}\n{outcome.Stdout}\n{outcome.Stderr}");
        Assert.DoesNotContain("Unhandled exception", outcome.Stdout + outcome.Stderr);
        Assert.DoesNotMatch(StackFrame, outcome.Stdout + outcome.Stderr);
        Assert.Contains("got no answer from the endpoint", Regex.Replace(outcome.Stdout, @"\s+", " "));
        Assert.True(File.Exists(Path.Combine(_dir, "eval", "results.jsonl")));
    }

    [Fact]
    public async Task StatusAgainstADatabaseThatRefusesConnectionsSaysSoInOneLine()
    {
        var outcome = await HuatuoProcess.RunAsync(["status", "--connection", $"Host=127.0.0.1;Port={FreePort.Pick()};Username=u;Password=p;Database=d"]);

        var line = AssertOneLineError(outcome);
        Assert.Equal(ExitCodes.ServiceUnavailable, outcome.ExitCode);
        Assert.StartsWith("huatuo: PostgreSQL: Failed to connect to 127.0.0.1:", line);
    }

    [Fact]
    public async Task EvalWithAUrlThatIsNoUrlSaysSoInOneLineAndVerboseAddsTheTrace()
    {
        string[] args = ["eval", "--data", Checkout.Path("tests", "HuatuoAspire.Evaluation.UnitTests", "data", "sample_benchmarks.json"),
            "--url", "not a url", "--out", Path.Combine(_dir, "eval")];

        var plain = await HuatuoProcess.RunAsync(args);
        var line = AssertOneLineError(plain);
        Assert.Equal(ExitCodes.BadInput, plain.ExitCode);
        Assert.Contains("URI", line);

        var verbose = await HuatuoProcess.RunAsync([.. args, "--verbose"]);
        Assert.Equal(ExitCodes.BadInput, verbose.ExitCode);
        Assert.StartsWith(line, verbose.Stderr);
        Assert.Matches(StackFrame, verbose.Stderr);
        Assert.DoesNotContain("Unhandled exception", verbose.Stderr);
    }

    [Fact]
    public async Task BenchGenerateComparingWithLlamaCppWithoutThePeerSaysWhatToInstall()
    {
        // huatuo looks for tests/npm above itself and the working folder: a hard-linked copy of this build outside the
        // checkout is a huatuo installed without the npm peer.
        var installed = Path.Combine(_dir, "installed");
        var copy = await ChildProcess.RunAsync(new ProcessStartInfo("cp", ["-al", AppContext.BaseDirectory.TrimEnd('/'), installed]), TimeSpan.FromMinutes(2));
        Assert.True(copy.ExitCode == 0, copy.Stderr);
        var model = Path.Combine(_dir, "tiny");
        Assert.Equal(0, (await HuatuoProcess.RunAsync(["model", "init", "--arch", "llama", "--preset", "tiny", "--out", model], installed, _dir)).ExitCode);

        var outcome = await HuatuoProcess.RunAsync(["bench", "generate", "--model", model, "--device", "cpu", "--threads", "1",
            "--prompt-tokens", "8", "--steps", "2", "--batch", "2", "--compare-llama-cpp"], installed, _dir);

        // Our figures are still measured and printed; llama.cpp's column says how to get it.
        Assert.True(outcome.ExitCode == 0, $"exit {outcome.ExitCode}\n{outcome.Stdout}\n{outcome.Stderr}");
        Assert.DoesNotContain("Unhandled exception", outcome.Stdout + outcome.Stderr);
        Assert.DoesNotMatch(StackFrame, outcome.Stdout + outcome.Stderr);
        Assert.Contains(LlamaCppBenchmark.InstallHint, Regex.Replace(outcome.Stdout, @"\s+", " "));
    }

    [Theory]
    [InlineData("npgsql", ExitCodes.ServiceUnavailable, "PostgreSQL: Failed to connect to 127.0.0.1:1: Connection refused")]
    [InlineData("denied", ExitCodes.EnvironmentRefused, "permission denied: Access to the path '/srv/x' is denied.")]
    [InlineData("http", ExitCodes.ServiceUnavailable, "Connection refused (127.0.0.1:1)")]
    [InlineData("server", ExitCodes.EnvironmentRefused, "PostgreSQL did not start")]
    [InlineData("wrapped", ExitCodes.BadInput, "no such file")]
    [InlineData("ef-wrapped", ExitCodes.ServiceUnavailable, "PostgreSQL: Failed to connect to 127.0.0.1:1: Connection refused")]
    [InlineData("refusal", ExitCodes.Failed, "The database has 1 migration(s) not applied (Init): run `huatuo migrate` first.")]
    [InlineData("unexpected", ExitCodes.Failed, "broken (IndexOutOfRangeException; --verbose shows where)")]
    public void EachKindOfFailureHasItsMessageAndExitCode(string kind, int exitCode, string message)
    {
        Exception exception = kind switch
        {
            "npgsql" => new NpgsqlException("Failed to connect to 127.0.0.1:1", new SocketException((int)SocketError.ConnectionRefused)),
            "denied" => new UnauthorizedAccessException("Access to the path '/srv/x' is denied."),
            "http" => new HttpRequestException("Connection refused (127.0.0.1:1)", new SocketException((int)SocketError.ConnectionRefused)),
            "server" => new LocalServerException("PostgreSQL did not start\nlog: ..."),
            "wrapped" => new AggregateException(new FileNotFoundException("no such file")),
            "ef-wrapped" => new InvalidOperationException("An exception has been raised that is likely due to a transient failure.",
                new NpgsqlException("Failed to connect to 127.0.0.1:1", new SocketException((int)SocketError.ConnectionRefused))),
            "refusal" => new InvalidOperationException("The database has 1 migration(s) not applied (Init): run `huatuo migrate` first."),
            _ => new IndexOutOfRangeException("broken"), // a type no rule names: an unexpected failure
        };
        Assert.Equal(new CommandLineError(message, exitCode), CommandLineError.From(exception, interrupted: false));
    }

    [Fact]
    public void CtrlCIsInterruptedWithTheShellsCodeAndATimeoutIsNot()
    {
        Assert.Equal(ExitCodes.Interrupted, CommandLineError.From(new OperationCanceledException(), interrupted: true).ExitCode);
        Assert.Equal(ExitCodes.ServiceUnavailable, CommandLineError.From(new TaskCanceledException("The request timed out."), interrupted: false).ExitCode);
    }

    private static readonly Regex StackFrame = new(@"^\s+at \S+\(", RegexOptions.Multiline);

    /// <summary>The process failed with exactly one line on stderr, "huatuo: …", and no stack trace anywhere.</summary>
    private static string AssertOneLineError(ProcessOutcome outcome)
    {
        var all = $"exit {outcome.ExitCode}\nstdout: {outcome.Stdout}\nstderr: {outcome.Stderr}";
        Assert.True(outcome.ExitCode != 0, all);
        Assert.DoesNotContain("Unhandled exception", outcome.Stdout + outcome.Stderr);
        Assert.DoesNotMatch(StackFrame, outcome.Stdout + outcome.Stderr);
        var line = Assert.Single(outcome.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("huatuo: ", line);
        return line;
    }
}
