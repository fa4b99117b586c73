using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using HuatuoAspire.Benchmarks.Generation;
using HuatuoAspire.Benchmarks.LlamaCpp;
using HuatuoAspire.Benchmarks.StructuredOutput;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.Gguf;
using HuatuoAspire.Model.StructuredOutput;
using HuatuoAspire.Model.Tokenization;
using Spectre.Console;
using static TorchSharp.torch;

namespace HuatuoAspire.Cli.Commands;

/// <summary>
/// `huatuo bench generate`: prefill and decode speed of a model folder against the memory-bandwidth bound, peak
/// memory, perplexity on a fixed text, and, with --compare-llama-cpp, llama.cpp's figures on the same weights
/// (F32, BF16 or Q8_0 GGUF, as --dtype says) from the same run, side by side.
/// </summary>
public static class BenchGenerateCommands
{
    /// <summary>The fixed text perplexity is measured on (a clinical vignette and its reasoning).</summary>
    public const string PerplexityText =
        "A 67-year-old man with type 2 diabetes and chronic kidney disease presents with fatigue and muscle weakness. " +
        "His serum potassium is 6.8 mmol/L and the electrocardiogram shows peaked T waves. The first step is to stabilise " +
        "the cardiac membrane with intravenous calcium gluconate, then to shift potassium into the cells with insulin and " +
        "glucose, and finally to remove it from the body. Drugs that raise potassium, such as ACE inhibitors and " +
        "spironolactone, should be reviewed. The creatinine clearance, estimated with the Cockcroft-Gault formula from age, " +
        "weight and serum creatinine, guides the dose of every renally cleared medication.";

    public static Command CreateGenerate()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model folder (e.g. made by `huatuo model init --preset base`).", Required = true };
        var threads = new Option<int>("--threads") { Description = "CPU threads for libtorch (0 = libtorch's default).", DefaultValueFactory = _ => 0 };
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt length for the prefill figure.", DefaultValueFactory = _ => 256 };
        var steps = new Option<int>("--steps") { Description = "Decode steps per measurement.", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch") { Description = "The larger decode batch.", DefaultValueFactory = _ => 8 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto.", DefaultValueFactory = _ => "auto" };
        var dtype = WeightDTypeOption.Create();
        var compare = new Option<bool>("--compare-llama-cpp")
        {
            Description = "Also export the model to GGUF (F32, BF16 or Q8_0 as --dtype says) and measure llama.cpp (node-llama-cpp from tests/npm) at the same thread count.",
        };
        var json = new Option<bool>("--json")
        {
            Description = "Also measure structured output: batch-1 sampled decode free and under response_format json_object (with and without a token budget that keeps every step in the closing tail), and the per-token cost of the mask over the folder's tokenizer, mean and p95.",
        };
        var jsonSchema = new Option<FileInfo>("--json-schema")
        {
            Description = "With --json: measure under this JSON schema (a file holding the schema itself, as in response_format json_schema) instead of json_object.",
        };
        var command = new Command("generate", "Prefill and decode tokens/s (batch 1 and 8), peak memory, perplexity, the memory-bandwidth bound of decode, and llama.cpp beside them.")
        {
            model, threads, prompt, steps, batch, device, dtype, compare, json, jsonSchema,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (parse.GetValue(threads) is > 0 and var n) set_num_threads(n);
            var dir = parse.GetValue(model)!.FullName;
            var placement = ModelPlacement.ForWeights(parse.GetValue(device), parse.GetValue(dtype));
            var llamaAvailable = true;
            var llamaMissing = "";
            if (parse.GetValue(compare)) llamaAvailable = LlamaCppBenchmark.IsAvailable(out llamaMissing);
            // The schema is read before the long measurements, so that a bad one fails at once.
            var grammar = parse.GetValue(jsonSchema) is { } schemaFile ? ReadSchema(schemaFile) : JsonGrammar.AnyObjectGrammar;

            // What the runtime and libtorch hold before any weight: the peak minus this is what the model costs.
            var beforeLoad = ResidentMemory.Current();
            using var lm = CausalLanguageModel.FromPretrained(dir, placement);
            var result = GenerationBenchmark.Run(lm, parse.GetValue(prompt), parse.GetValue(steps), parse.GetValue(batch),
                progress: stage => Console.Error.WriteLine($"measuring {stage} ..."));
            Console.Error.WriteLine("measuring perplexity ...");
            var perplexity = Perplexity.Of(lm, HfTokenizer.FromFolder(dir).Encode(PerplexityText));
            var weightBytes = lm.WeightBytes;

            LlamaCppSpeed? llama = null;
            long ggufBytes = 0;
            var ggufType = placement.WeightsName switch { "int8" => GgmlType.Q8_0, "bf16" => GgmlType.BF16, _ => GgmlType.F32 };
            if (parse.GetValue(compare) && llamaAvailable)
            {
                var gguf = Path.Combine(Path.GetTempPath(), $"huatuo-bench-{Guid.NewGuid():N}.gguf");
                try
                {
                    Console.Error.WriteLine($"measuring llama.cpp on the same weights ({ggufType} GGUF) ...");
                    HuggingFaceGgufExporter.Export(dir, gguf, ggufType);
                    ggufBytes = new FileInfo(gguf).Length;
                    llama = await LlamaCppBenchmark.MeasureAsync(gguf, result.Threads, parse.GetValue(prompt), parse.GetValue(steps), cancellationToken: ct);
                }
                catch (InvalidOperationException e)
                {
                    // Our figures stand on their own; the peer's failure is one line, not a lost run.
                    llamaAvailable = false;
                    llamaMissing = e.Message.ReplaceLineEndings(" ");
                }
                finally
                {
                    File.Delete(gguf);
                }
            }

            string F(double v, string unit) => string.Create(CultureInfo.InvariantCulture, $"{v:F1} {unit}");
            string Ratio(double ours, double theirs) => string.Create(CultureInfo.InvariantCulture, $"{ours / theirs:F2} ×");
            var table = new Table().AddColumns("figure", "ours", $"llama.cpp ({ggufType})", "ours ÷ llama.cpp");
            void Row(string figure, string ours, string? theirs = null, string? ratio = null) => table.AddRow(figure, ours, theirs ?? "", ratio ?? "");
            Row("model", $"{lm.Config.Architecture}, {result.Parameters:N0} parameters, {placement.WeightsName} weights, {lm.Placement.DType} compute on {lm.Placement.Device.type}");
            Row("threads", result.Threads.ToString(CultureInfo.InvariantCulture), llama?.Threads.ToString(CultureInfo.InvariantCulture));
            Row($"prefill ({result.PromptTokens} tokens)", F(result.PrefillTokensPerSecond, "tok/s"),
                llama is null ? null : F(llama.PrefillTokensPerSecond, "tok/s"), llama is null ? null : Ratio(result.PrefillTokensPerSecond, llama.PrefillTokensPerSecond));
            Row("decode, batch 1", F(result.DecodeBatch1TokensPerSecond, "tok/s"),
                llama is null ? null : F(llama.DecodeTokensPerSecond, "tok/s"), llama is null ? null : Ratio(result.DecodeBatch1TokensPerSecond, llama.DecodeTokensPerSecond));
            Row($"decode, batch {parse.GetValue(batch)}", F(result.DecodeBatch8TokensPerSecond, "tok/s"));
            Row("weights in memory / GGUF file", F(weightBytes / 1048576.0, "MiB"), llama is null ? null : F(ggufBytes / 1048576.0, "MiB"));
            Row("peak resident memory", F(result.PeakMemoryBytes / 1048576.0, "MiB"),
                llama is { PeakResidentBytes: > 0 } ? F(llama.PeakResidentBytes / 1048576.0, "MiB (node + llama.cpp)") : null,
                llama is { PeakResidentBytes: > 0 } ? Ratio(result.PeakMemoryBytes, llama.PeakResidentBytes) : null);
            Row("resident before loading (runtime, libtorch)", F(beforeLoad / 1048576.0, "MiB"));
            Row("(peak − before loading) ÷ weight bytes", string.Create(CultureInfo.InvariantCulture, $"{(double)(result.PeakMemoryBytes - beforeLoad) / weightBytes:F2} ×"));
            Row("perplexity, fixed text", string.Create(CultureInfo.InvariantCulture, $"{perplexity:F3}"));
            Row("weight bytes per decode step", F(result.WeightBytesPerStep / 1048576.0, "MiB"));
            Row("copy bandwidth (read + write)", F(result.CopyBandwidthBytesPerSecond / 1e9, "GB/s"));
            Row("bandwidth bound, batch-1 decode", F(result.BandwidthBoundTokensPerSecond, "tok/s"));
            Row("batch-1 decode vs bound", F(result.PercentOfBound, "%"));
            Row("by CPU time: decode batch 1", F(result.DecodeBatch1TokensPerCpuSecond, "tok/CPU-s"));
            Row("by CPU time: copy bandwidth", F(result.CopyBandwidthBytesPerCpuSecond / 1e9, "GB/CPU-s"));
            Row("by CPU time: batch-1 decode vs bound", F(result.PercentOfBoundByCpuTime, "% (meaningful with --threads 1)"));
            if (parse.GetValue(json)) AddStructuredOutputRows((figure, value) => Row(figure, value), lm, dir, grammar, parse.GetValue(steps), F);
            Row("load average (1, 5, 15 min)", LoadAverage());
            AnsiConsole.Write(table);
            if (!llamaAvailable) AnsiConsole.WriteLine($"llama.cpp comparison skipped: {llamaMissing}");
            return 0;
        });
        return command;
    }

    /// <summary>The machine's load while measuring (the figures mean little on a busy machine).</summary>
    private static string LoadAverage()
    {
        const string path = "/proc/loadavg";
        return File.Exists(path) ? string.Join(", ", File.ReadAllText(path).Split(' ').Take(3)) : "unknown";
    }

    private static JsonGrammar ReadSchema(FileInfo file)
    {
        if (!file.Exists) throw new FileNotFoundException($"--json-schema: {file.FullName} does not exist.");
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(file.FullName));
            return JsonSchemaCompiler.Compile(document.RootElement);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"--json-schema: {file.FullName} is not JSON: {e.Message}");
        }
        catch (UnsupportedJsonSchemaException e)
        {
            throw new ArgumentException($"--json-schema: {e.Message}");
        }
    }

    private static void AddStructuredOutputRows(Action<string, string> row, CausalLanguageModel lm, string dir, JsonGrammar grammar, int steps,
        Func<double, string, string> f)
    {
        Console.Error.WriteLine($"measuring structured output ({grammar.Key}) ...");
        var result = StructuredOutputBenchmark.Run(lm, HfTokenizer.FromFolder(dir), grammar, Math.Max(steps, 64));
        string Cost(PerTokenCost c) => string.Create(CultureInfo.InvariantCulture, $"{c.MeanMicroseconds:F1} µs mean, {c.P95Microseconds:F1} µs p95");
        row("json: response format", result.Grammar.Length > 60 ? result.Grammar[..57] + "..." : result.Grammar);
        row("json: vocabulary (trie nodes, build)", string.Create(CultureInfo.InvariantCulture,
            $"{result.VocabularySize:N0} tokens ({result.TrieNodes:N0} nodes, {result.VocabularyBuildMilliseconds:F0} ms)"));
        row("json: decode batch 1, T = 1, free", f(result.PlainDecodeTokensPerSecond, "tok/s"));
        row("json: decode batch 1, T = 1, constrained", f(result.JsonDecodeTokensPerSecond, "tok/s"));
        row($"json: decode batch 1, T = 1, constrained, max_tokens {result.DecodeBudget}", f(result.BudgetedJsonDecodeTokensPerSecond, "tok/s"));
        row("json: decode overhead per token (no budget, budget)", string.Create(CultureInfo.InvariantCulture,
            $"{result.DecodeOverheadMicrosecondsPerToken:F0} µs, {result.BudgetedDecodeOverheadMicrosecondsPerToken:F0} µs"));
        row("json: mask + cursor per token (cached states)", Cost(result.Mask));
        row($"json: same in the closing tail (budget {result.DecodeBudget})", Cost(result.ClosingMask));
        row("json: closing tail, first pass (fills caches)", Cost(result.ClosingMaskFirstPass));
        row("json: allowed set of a new state (once)", string.Create(CultureInfo.InvariantCulture,
            $"{result.MaskBuildMillisecondsPerState:F2} ms ({result.MaskedStates} states)"));
        row("json: closing distances of a new state (once)", string.Create(CultureInfo.InvariantCulture,
            $"{result.ClosingBuildMillisecondsPerState:F2} ms ({result.ClosingStates} states)"));
    }
}
