using System.CommandLine;
using System.Globalization;
using HuatuoAspire.Benchmarks.LlamaCpp;
using HuatuoAspire.Model.Gguf;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary>
/// <c>huatuo bench llama-cpp</c>: llama.cpp's prefill and batch-1 decode speed on a model folder's weights (exported to an
/// F32 GGUF) or on a GGUF file, at the given thread counts: the reference that our decode speed is compared with.
/// </summary>
public static class BenchLlamaCppCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo?>("--model") { Description = "Model folder; exported to a temporary F32 GGUF first." };
        var gguf = new Option<FileInfo?>("--gguf") { Description = "Instead of --model: an existing GGUF file." };
        var threads = new Option<int[]>("--threads")
        {
            Description = "Thread counts to measure, one run each (use the engine's thread count to compare).",
            DefaultValueFactory = _ => [1], AllowMultipleArgumentsPerToken = true,
        };
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt length for prefill.", DefaultValueFactory = _ => 16 };
        var tokens = new Option<int>("--new-tokens") { Description = "Tokens decoded (greedy, batch 1) per run.", DefaultValueFactory = _ => 64 };
        var command = new Command("llama-cpp", "llama.cpp's prefill and batch-1 decode tokens/s on the same F32 weights (node-llama-cpp CPU build).")
        {
            model, gguf, threads, prompt, tokens,
        };
        command.SetAction(async (parse, ct) =>
        {
            var modelDir = parse.GetValue(model);
            var file = parse.GetValue(gguf);
            if ((modelDir is null) == (file is null))
            {
                AnsiConsole.MarkupLine("[red]Give exactly one of --model DIR or --gguf FILE.[/]");
                return 2;
            }
            string? temporary = null;
            try
            {
                var path = file?.FullName;
                if (modelDir is not null)
                {
                    temporary = Path.Combine(Path.GetTempPath(), $"huatuo-bench-{Guid.NewGuid():N}.gguf");
                    HuggingFaceGgufExporter.Export(modelDir.FullName, temporary, GgmlType.F32);
                    path = temporary;
                }
                var table = new Table().AddColumns("threads", "prefill tokens/s", "decode tokens/s (batch 1)");
                foreach (var n in parse.GetValue(threads)!)
                {
                    var speed = await LlamaCppBenchmark.MeasureAsync(path!, n, parse.GetValue(prompt), parse.GetValue(tokens), cancellationToken: ct);
                    table.AddRow(n.ToString(CultureInfo.InvariantCulture),
                        speed.PrefillTokensPerSecond.ToString("F1", CultureInfo.InvariantCulture),
                        speed.DecodeTokensPerSecond.ToString("F1", CultureInfo.InvariantCulture));
                }
                AnsiConsole.MarkupLineInterpolated($"llama.cpp on [bold]{modelDir?.FullName ?? path}[/] (F32, {new FileInfo(path!).Length / 1e6:F1} MB):");
                AnsiConsole.Write(table);
                return 0;
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or NotSupportedException
                                          or InvalidOperationException or HuatuoAspire.Model.ModelFormatException)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]{e.Message}[/]");
                return 1;
            }
            finally
            {
                if (temporary is not null) File.Delete(temporary);
            }
        });
        return command;
    }
}
