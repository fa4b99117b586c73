using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Training.Observability;

/// <summary>
/// Per-step figures: one JSON object per optimizer step appended to <c>metrics.jsonl</c> (flushed each line, so a
/// killed run keeps what it logged), and the same figures as OpenTelemetry gauges on the
/// <c>HuatuoAspire.Training</c> meter (<c>huatuo.training.{name}</c>, tagged with the stage).
/// </summary>
public sealed class TrainingMetricsLog : IDisposable
{
    public const string MeterName = "HuatuoAspire.Training";
    public const string FileName = "metrics.jsonl";

    private static readonly Meter TrainingMeter = new(MeterName);
    private static readonly ConcurrentDictionary<string, Gauge<double>> Gauges = new();
    private readonly StreamWriter _writer;
    private readonly string _stage;

    /// <summary>Opens the log; when resuming, lines for steps at or after <paramref name="resumeFromStep"/> are dropped first.</summary>
    public TrainingMetricsLog(string outputDirectory, string stage, int? resumeFromStep = null)
    {
        Directory.CreateDirectory(outputDirectory);
        Path = System.IO.Path.Combine(outputDirectory, FileName);
        _stage = stage;
        if (resumeFromStep is { } from && File.Exists(Path))
        {
            var kept = File.ReadAllLines(Path).Where(line =>
                !string.IsNullOrWhiteSpace(line) && JsonNode.Parse(line)?["step"]?.GetValue<int>() is { } s && s < from).ToList();
            File.WriteAllLines(Path, kept);
        }
        else if (resumeFromStep is null)
        {
            File.Delete(Path);
        }
        _writer = new StreamWriter(Path, append: true) { AutoFlush = true };
    }

    public string Path { get; }

    public void Write(int step, IReadOnlyDictionary<string, double> figures)
    {
        var line = new JsonObject { ["step"] = step };
        var tags = new KeyValuePair<string, object?>("stage", _stage);
        foreach (var (name, value) in figures)
        {
            line[name] = double.IsFinite(value) ? value : null;
            Gauges.GetOrAdd(name, n => TrainingMeter.CreateGauge<double>($"huatuo.training.{n}")).Record(value, tags);
        }
        _writer.WriteLine(line.ToJsonString());
    }

    public static IReadOnlyList<JsonObject> Read(string outputDirectory) =>
        File.ReadAllLines(System.IO.Path.Combine(outputDirectory, FileName))
            .Where(l => !string.IsNullOrWhiteSpace(l)).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();

    public void Dispose() => _writer.Dispose();
}
