using HuatuoAspire.Reasoning.Files;
using HuatuoAspire.Reasoning.Llm;
using Spectre.Console;

namespace HuatuoAspire.Cli.Display;

/// <summary>Runs a file job under a Spectre progress bar and prints the summary both file commands share.</summary>
internal static class FileJobConsole
{
    public static async Task<int> RunAsync(string title, string outputPath, int concurrency, IReadOnlyList<InputRecord> inputs,
        Func<InputRecord, CancellationToken, Task<System.Text.Json.Nodes.JsonObject>> process, LlmUsageLedger ledger, CancellationToken cancellationToken)
    {
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160; // keep the summary table readable in logs
        var run = new ResumableRecordRun(outputPath, concurrency);
        RecordRunSummary summary = null!;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(title, maxValue: Math.Max(1, inputs.Count));
                var progress = new Progress<RecordRunProgress>(p =>
                {
                    task.Value = p.AlreadyDone + p.Completed + p.Deferred;
                    task.Description = $"{title} ({p.AlreadyDone} resumed, {p.Completed} done, {p.Deferred} deferred)";
                });
                summary = await run.RunAsync(inputs, process, progress, cancellationToken);
                task.Value = task.MaxValue;
            });

        var usage = ledger.Total;
        var table = new Table().AddColumns("items", "already done", "processed", "deferred (LLM errors)", "LLM calls", "tokens in/out", "cost", "elapsed");
        table.AddRow(summary.Total.ToString(), summary.AlreadyDone.ToString(), summary.Completed.ToString(), summary.DeferredCount.ToString(),
            usage.Calls.ToString(), $"{usage.InputTokens}/{usage.OutputTokens}", usage.Cost.ToString("0.0000"), summary.Elapsed.ToString(@"hh\:mm\:ss"));
        AnsiConsole.Write(table);
        foreach (var reason in summary.Deferred.Take(10)) AnsiConsole.MarkupLineInterpolated($"[yellow]deferred[/] {reason}");
        if (summary.DeferredCount > 0)
        {
            AnsiConsole.MarkupLineInterpolated($"[yellow]{summary.DeferredCount} item(s) were not written; run the same command again to retry them.[/]");
            return 3;
        }
        AnsiConsole.MarkupLineInterpolated($"Output: {outputPath}");
        return 0;
    }
}
