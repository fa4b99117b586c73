using System.CommandLine;
using System.Globalization;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.Gguf;
using HuatuoAspire.Model.StructuredOutput;
using HuatuoAspire.Model.Tokenization;
using Spectre.Console;
using static TorchSharp.torch;

namespace HuatuoAspire.Cli.Commands;

/// <summary>`huatuo bench generate`: prefill and decode speed of a model folder against the memory-bandwidth bound.</summary>
public static class BenchGenerateCommands
{
    public static Command CreateGenerate()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model folder (e.g. made by `huatuo model init --preset base`).", Required = true };
        var threads = new Option<int>("--threads") { Description = "CPU threads for libtorch (0 = libtorch's default).", DefaultValueFactory = _ => 0 };
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt length for the prefill figure.", DefaultValueFactory = _ => 256 };
        var steps = new Option<int>("--steps") { Description = "Decode steps per measurement.", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch") { Description = "The larger decode batch.", DefaultValueFactory = _ => 8 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto.", DefaultValueFactory = _ => "auto" };
        var compare = new Option<bool>("--compare-llama-cpp")
        {
            Description = "Also export the model to an F32 GGUF and measure llama.cpp (node-llama-cpp from tests/npm) at the same thread count.",
        };
        var json = new Option<bool>("--json")
        {
            Description = "Also measure structured output: batch-1 sampled decode free and under response_format json_object, and the per-token cost of the mask over the folder's tokenizer.",
        };
        var command = new Command("generate", "Prefill and decode tokens/s (batch 1 and 8), peak memory, and the memory-bandwidth bound of decode.")
        {
            model, threads, prompt, steps, batch, device, compare, json,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (parse.GetValue(threads) is > 0 and var n) set_num_threads(n);
            var dir = parse.GetValue(model)!.FullName;
            using var lm = CausalLanguageModel.FromPretrained(dir, ModelPlacement.Parse(parse.GetValue(device), null));
            var result = GenerationBenchmark.Run(lm, parse.GetValue(prompt), parse.GetValue(steps), parse.GetValue(batch),
                progress: stage => Console.Error.WriteLine($"measuring {stage} ..."));
            var table = new Table().AddColumns("figure", "value");
            string F(double v, string unit) => string.Create(CultureInfo.InvariantCulture, $"{v:F1} {unit}");
            table.AddRow("model", $"{lm.Config.Architecture}, {result.Parameters:N0} parameters, {lm.Placement.DType} on {lm.Placement.Device.type}");
            table.AddRow("threads", result.Threads.ToString(CultureInfo.InvariantCulture));
            table.AddRow($"prefill ({result.PromptTokens} tokens)", F(result.PrefillTokensPerSecond, "tok/s"));
            table.AddRow("decode, batch 1", F(result.DecodeBatch1TokensPerSecond, "tok/s"));
            table.AddRow($"decode, batch {parse.GetValue(batch)}", F(result.DecodeBatch8TokensPerSecond, "tok/s"));
            table.AddRow("weight bytes per decode step", F(result.WeightBytesPerStep / 1048576.0, "MiB"));
            table.AddRow("copy bandwidth (read + write)", F(result.CopyBandwidthBytesPerSecond / 1e9, "GB/s"));
            table.AddRow("bandwidth bound, batch-1 decode", F(result.BandwidthBoundTokensPerSecond, "tok/s"));
            table.AddRow("batch-1 decode vs bound", F(result.PercentOfBound, "%"));
            table.AddRow("by CPU time: decode batch 1", F(result.DecodeBatch1TokensPerCpuSecond, "tok/CPU-s"));
            table.AddRow("by CPU time: copy bandwidth", F(result.CopyBandwidthBytesPerCpuSecond / 1e9, "GB/CPU-s"));
            table.AddRow("by CPU time: batch-1 decode vs bound", F(result.PercentOfBoundByCpuTime, "% (meaningful with --threads 1)"));
            table.AddRow("peak resident memory", F(result.PeakMemoryBytes / 1048576.0, "MiB"));
            if (parse.GetValue(json)) AddStructuredOutputRows(table, lm, dir, parse.GetValue(steps), F);
            if (parse.GetValue(compare))
            {
                var gguf = Path.Combine(Path.GetTempPath(), $"huatuo-bench-{Guid.NewGuid():N}.gguf");
                try
                {
                    Console.Error.WriteLine("measuring llama.cpp on the same weights (F32 GGUF) ...");
                    HuggingFaceGgufExporter.Export(dir, gguf, GgmlType.F32);
                    var llama = await LlamaCppBenchmark.MeasureAsync(gguf, result.Threads, parse.GetValue(prompt), parse.GetValue(steps), cancellationToken: ct);
                    table.AddRow($"llama.cpp prefill ({llama.PromptTokens} tokens)", F(llama.PrefillTokensPerSecond, "tok/s"));
                    table.AddRow($"llama.cpp decode, batch 1 (threads: {llama.Threads})", F(llama.DecodeTokensPerSecond, "tok/s"));
                    table.AddRow("batch-1 decode vs llama.cpp", string.Create(CultureInfo.InvariantCulture, $"{result.DecodeBatch1TokensPerSecond / llama.DecodeTokensPerSecond:F2} ×"));
                }
                finally
                {
                    File.Delete(gguf);
                }
            }
            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }

    private static void AddStructuredOutputRows(Table table, CausalLanguageModel lm, string dir, int steps, Func<double, string, string> f)
    {
        Console.Error.WriteLine("measuring structured output (json_object) ...");
        var result = StructuredOutputBenchmark.Run(lm, HfTokenizer.FromFolder(dir), Math.Max(steps, 64));
        table.AddRow("json: vocabulary (trie nodes, build)", string.Create(CultureInfo.InvariantCulture,
            $"{result.VocabularySize:N0} tokens ({result.TrieNodes:N0} nodes, {result.VocabularyBuildMilliseconds:F0} ms)"));
        table.AddRow("json: decode batch 1, T = 1, free", f(result.PlainDecodeTokensPerSecond, "tok/s"));
        table.AddRow("json: decode batch 1, T = 1, json_object", f(result.JsonDecodeTokensPerSecond, "tok/s"));
        table.AddRow("json: decode overhead per token", f(result.DecodeOverheadMicrosecondsPerToken, "µs"));
        table.AddRow("json: mask + cursor per token (cached states)", f(result.MaskMicrosecondsPerToken, "µs"));
        table.AddRow("json: allowed set of a new state (once)", string.Create(CultureInfo.InvariantCulture,
            $"{result.MaskBuildMillisecondsPerState:F2} ms ({result.MaskedStates} states)"));
    }
}
