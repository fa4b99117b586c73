using System.Diagnostics;
using System.Text;

namespace HuatuoAspire.TestSupport;

/// <summary>What a finished child process left: its exit code and both streams.</summary>
public sealed record ProcessOutcome(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs a program to completion with its output captured; one that outlives its timeout is killed and fails the test.</summary>
public static class ChildProcess
{
    public static async Task<ProcessOutcome> RunAsync(ProcessStartInfo start, TimeSpan timeout, string? stdin = null)
    {
        start.UseShellExecute = false;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.StandardOutputEncoding = Encoding.UTF8;
        start.StandardErrorEncoding = Encoding.UTF8;
        start.RedirectStandardInput = stdin is not null;
        if (stdin is not null) start.StandardInputEncoding = new UTF8Encoding(false);
        var name = $"{start.FileName} {string.Join(' ', start.ArgumentList.Take(3))}";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{name} did not finish within {timeout.TotalSeconds:0} s; stderr so far: {TailOf(await stderr)}");
        }
        return new ProcessOutcome(process.ExitCode, await stdout, await stderr);
    }

    private static string TailOf(string text) => text.Length <= 2000 ? text : text[^2000..];
}
