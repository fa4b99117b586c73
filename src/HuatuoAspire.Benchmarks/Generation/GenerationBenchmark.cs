using System.Diagnostics;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace HuatuoAspire.Benchmarks.Generation;

/// <summary>Figures of one <see cref="GenerationBenchmark"/> run.</summary>
public sealed record GenerationBenchmarkResult(
    int Threads,
    long Parameters,
    long WeightBytesPerStep,
    int PromptTokens,
    double PrefillTokensPerSecond,
    double DecodeBatch1TokensPerSecond,
    double DecodeBatch8TokensPerSecond,
    double CopyBandwidthBytesPerSecond,
    long PeakMemoryBytes,
    double DecodeBatch1TokensPerCpuSecond,
    double CopyBandwidthBytesPerCpuSecond)
{
    /// <summary>Decode steps per second if every step only had to stream the weights once at the measured copy bandwidth.</summary>
    public double BandwidthBoundTokensPerSecond => CopyBandwidthBytesPerSecond / WeightBytesPerStep;

    public double PercentOfBound => 100 * DecodeBatch1TokensPerSecond / BandwidthBoundTokensPerSecond;

    /// <summary>
    /// The same ratio from process CPU time instead of wall time: on a shared machine wall time includes the time the OS
    /// gave to other processes; with one libtorch thread CPU time is the time this work really took.
    /// </summary>
    public double PercentOfBoundByCpuTime => 100 * DecodeBatch1TokensPerCpuSecond * WeightBytesPerStep / CopyBandwidthBytesPerCpuSecond;
}

/// <summary>
/// Measures prefill and decode speed of a loaded model with the real <see cref="BatchedDecoder"/> path, and the
/// memory-bandwidth bound of batch-1 decode: the bytes of weights one decode step must read (every matrix, the
/// output head; of the input embedding only one row, so it is left out unless tied to the head) divided by the
/// copy bandwidth measured in the same run (STREAM convention: bytes read + bytes written per second).
/// </summary>
public static class GenerationBenchmark
{
    public static GenerationBenchmarkResult Run(CausalLanguageModel model, int promptTokens = 256, int decodeSteps = 64,
        int batch = 8, int repeats = 3, Action<string>? progress = null, long copyBytes = 256L << 20)
    {
        var vocab = model.Config.VocabSize;
        var random = new Random(1234);
        int[] Prompt(int n) => Enumerable.Range(0, n).Select(_ => random.Next(vocab)).ToArray();
        // Stop only at the token budget so every run decodes the same number of steps.
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = decodeSteps + 1, StopTokenIds = new HashSet<int>() };
        var maxLength = Math.Min(model.Config.MaxPositionEmbeddings, Math.Max(promptTokens, 16) + decodeSteps + 2);

        progress?.Invoke($"prefill ({promptTokens} tokens)");
        double prefill = 0;
        using (var decoder = new BatchedDecoder(model, 1, maxLength))
        {
            var prompt = Prompt(promptTokens);
            Warm(decoder, prompt, options);
            var best = double.MaxValue;
            for (var r = 0; r < repeats; r++)
            {
                var sw = Stopwatch.StartNew();
                var first = decoder.Add(prompt, options);
                Synchronize(model);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
                decoder.Remove(first.SequenceId);
            }
            prefill = promptTokens / best;
        }

        progress?.Invoke("decode, batch 1");
        var (decode1, decode1Cpu) = Decode(model, 1, Prompt, options, decodeSteps, maxLength, repeats);
        progress?.Invoke($"decode, batch {batch}");
        var (decodeN, _) = Decode(model, batch, Prompt, options, decodeSteps, maxLength, repeats);

        // Peak memory of loading and generating, read before the bandwidth buffers are allocated.
        var peak = ResidentMemory.Peak();
        progress?.Invoke("copy bandwidth");
        var (bandwidth, bandwidthCpu) = MeasureCopyBandwidth(model.Placement.Device, repeats, copyBytes);

        var parameters = model.named_parameters().ToList();
        // As held: bf16 2 bytes, int8 1 byte plus its block scales.
        var scales = model.named_buffers().Where(b => b.name.EndsWith(".weight_scales", StringComparison.Ordinal))
            .ToDictionary(b => b.name[..^"_scales".Length], b => b.buffer.NumberOfElements * b.buffer.ElementSize);
        var weightBytes = parameters
            .Where(p => model.Config.TieWordEmbeddings || p.name != "model.embed_tokens.weight")
            .Sum(p => p.parameter.NumberOfElements * p.parameter.ElementSize + scales.GetValueOrDefault(p.name));
        return new GenerationBenchmarkResult(get_num_threads(), parameters.Sum(p => p.parameter.NumberOfElements), weightBytes, promptTokens,
            prefill, decode1, decodeN, bandwidth, peak, decode1Cpu, bandwidthCpu);
    }

    private static (double Wall, double Cpu) Decode(CausalLanguageModel model, int batch, Func<int, int[]> prompt, SamplingOptions options, int steps, int maxLength, int repeats)
    {
        using var decoder = new BatchedDecoder(model, batch, maxLength);
        Warm(decoder, prompt(16), options);
        double best = 0, bestCpu = 0;
        var process = Process.GetCurrentProcess();
        for (var r = 0; r < repeats; r++)
        {
            var ids = Enumerable.Range(0, batch).Select(_ => decoder.Add(prompt(16), options).SequenceId).ToList();
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            var tokens = 0;
            for (var s = 0; s < steps; s++) tokens += decoder.Step().Count;
            Synchronize(model);
            var wall = sw.Elapsed.TotalSeconds;
            process.Refresh();
            best = Math.Max(best, tokens / wall);
            bestCpu = Math.Max(bestCpu, tokens / Math.Max(1e-9, (process.TotalProcessorTime - cpu0).TotalSeconds));
            foreach (var id in ids) decoder.Remove(id);
        }
        return (best, bestCpu);
    }

    private static void Warm(BatchedDecoder decoder, int[] prompt, SamplingOptions options)
    {
        var first = decoder.Add(prompt, options);
        for (var i = 0; i < 4; i++) decoder.Step();
        decoder.Remove(first.SequenceId);
    }

    private static void Synchronize(CausalLanguageModel model)
    {
        if (model.Placement.Device.type == DeviceType.CUDA) cuda.synchronize();
    }

    /// <summary>
    /// Copy bandwidth, (read + written bytes) / second, of a 256 MiB buffer (far larger than any cache): the best of
    /// <paramref name="repeats"/> runs of 16 back-to-back copies, the same best-of-runs statistic as the decode figures,
    /// so both see the same share of a busy machine.
    /// </summary>
    public static (double Wall, double Cpu) MeasureCopyBandwidth(Device device, int repeats = 3, long bytes = 256L << 20, int copiesPerRun = 16)
    {
        using var src = ones([bytes / 4], ScalarType.Float32, device);
        using var dst = empty([bytes / 4], ScalarType.Float32, device);
        dst.copy_(src);
        double best = double.MaxValue, bestCpu = double.MaxValue;
        var process = Process.GetCurrentProcess();
        for (var r = 0; r < repeats; r++)
        {
            if (device.type == DeviceType.CUDA) cuda.synchronize();
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            for (var c = 0; c < copiesPerRun; c++) dst.copy_(src);
            if (device.type == DeviceType.CUDA) cuda.synchronize();
            best = Math.Min(best, sw.Elapsed.TotalSeconds / copiesPerRun);
            process.Refresh();
            bestCpu = Math.Min(bestCpu, Math.Max(1e-9, (process.TotalProcessorTime - cpu0).TotalSeconds) / copiesPerRun);
        }
        return (2.0 * bytes / best, 2.0 * bytes / bestCpu);
    }

    /// <summary>Peak resident set size of this process (VmHWM), or the peak working set where /proc is absent.</summary>
    public static long PeakResidentBytes() => ResidentMemory.Peak();
}
