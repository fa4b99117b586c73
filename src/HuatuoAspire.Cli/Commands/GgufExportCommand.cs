using System.CommandLine;
using System.Diagnostics;
using HuatuoAspire.Model.Gguf;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary>`huatuo model export`: a Hugging Face Llama/Qwen2 folder as a GGUF file for llama.cpp and Ollama.</summary>
public static class GgufExportCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model folder (config.json, safetensors, tokenizer.json).", Required = true };
        var format = new Option<string>("--format") { Description = "Output format.", DefaultValueFactory = _ => "gguf" };
        format.AcceptOnlyFromAmong("gguf");
        var dtype = new Option<string>("--dtype") { Description = "f32 (exact), f16 or bf16 (half the size), q8_0 (the engine's int8 blocks; ~0.27 of f32); norms and biases stay f32.", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "f16", "bf16", "q8_0");
        var output = new Option<FileInfo>("--out") { Description = "GGUF file to write.", Required = true };
        var export = new Command("export", "Export a model folder to GGUF (llama.cpp tensor names and Q/K layout).") { model, format, dtype, output };
        export.SetAction(parse =>
        {
            var dir = parse.GetValue(model)!.FullName;
            var path = parse.GetValue(output)!.FullName;
            var type = parse.GetValue(dtype) switch { "f16" => GgmlType.F16, "bf16" => GgmlType.BF16, "q8_0" => GgmlType.Q8_0, _ => GgmlType.F32 };
            if (!Directory.Exists(dir))
            {
                AnsiConsole.MarkupLineInterpolated($"[red]Model folder '{dir}' does not exist.[/]");
                return 1;
            }
            var clock = Stopwatch.StartNew();
            try
            {
                // Tensors are converted and written one at a time; the bar follows the bytes written.
                AnsiConsole.Progress().AutoClear(true).Start(context =>
                {
                    var task = context.AddTask($"GGUF {type}", maxValue: 1);
                    HuggingFaceGgufExporter.Export(dir, path, type, new Progress<(long Written, long Total)>(p =>
                    {
                        task.MaxValue = Math.Max(1, p.Total);
                        task.Value = p.Written;
                    }));
                });
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or NotSupportedException or HuatuoAspire.Model.ModelFormatException)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]Cannot export '{dir}': {e.Message}[/]");
                return 1;
            }
            var file = GgufFile.Read(path);
            AnsiConsole.MarkupLineInterpolated(
                $"Wrote [bold]{path}[/]: {file.Metadata["general.architecture"].AsString()}, {file.Tensors.Count} tensors, {type}, {new FileInfo(path).Length / 1e6:F1} MB in {clock.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return export;
    }
}
