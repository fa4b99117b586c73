using System.Text.Json;
using System.Text.Json.Serialization;

namespace HuatuoAspire.Evaluation;

/// <summary>
/// results.jsonl: one record per question (benchmark, index, question, options, answer_idx, prompt, output, extracted,
/// correct, error, rule), appended and flushed as answers arrive so a killed run resumes where it stopped.
/// </summary>
public sealed class JsonlResultSink : IEvaluationResultSink, IDisposable
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly StreamWriter _writer;
    private readonly SemaphoreSlim _gate = new(1, 1);

    public JsonlResultSink(string path)
    {
        Existing = File.Exists(path) ? Read(path) : [];
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read));
    }

    public IReadOnlyList<QuestionResult> Existing { get; }

    public async Task WriteAsync(QuestionResult result, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _writer.WriteLineAsync(JsonSerializer.Serialize(result, Json).AsMemory(), cancellationToken).ConfigureAwait(false);
            await _writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _writer.Dispose();
        _gate.Dispose();
    }

    /// <summary>The latest record per question; a truncated LAST line (a run killed mid-write) is ignored, any other bad line is an error.</summary>
    public static IReadOnlyList<QuestionResult> Read(string path)
    {
        var lines = File.ReadAllLines(path);
        var latest = new Dictionary<(string, int), QuestionResult>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            QuestionResult? record;
            try
            {
                record = JsonSerializer.Deserialize<QuestionResult>(lines[i], Json);
            }
            catch (JsonException e) when (i == lines.Length - 1)
            {
                _ = e;
                continue;
            }
            catch (JsonException e)
            {
                throw new BenchmarkFormatException($"{path}:{i + 1}: not a result record: {e.Message}");
            }

            if (record is null) throw new BenchmarkFormatException($"{path}:{i + 1}: empty result record.");
            latest[(record.Benchmark, record.Index)] = record;
        }

        return latest.Values.ToList();
    }
}
