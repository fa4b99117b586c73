using System.Text.Json;
using System.Text.Json.Serialization;

namespace HuatuoAspire.Evaluation;

/// <summary>
/// results.jsonl: one record per question (benchmark, index, question, options, answer_idx, prompt, output, extracted,
/// correct, error, rule), appended and flushed as answers arrive so a killed run resumes where it stopped. A record
/// half written when a run was killed is cut off before anything is appended, so the next record starts a line.
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
        DroppedPartialLine = File.Exists(path) && EndCleanly(path);
        Existing = File.Exists(path) ? Read(path) : [];
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read));
    }

    public IReadOnlyList<QuestionResult> Existing { get; }

    /// <summary>Whether opening cut off a half-written last record (a run killed mid-write).</summary>
    public bool DroppedPartialLine { get; }

    /// <summary>
    /// Makes the file end with a newline: a last line that is a whole record gets one; a half-written one is cut off.
    /// Returns whether something was cut off.
    /// </summary>
    private static bool EndCleanly(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        if (file.Length == 0) return false;
        file.Seek(-1, SeekOrigin.End);
        if (file.ReadByte() == '\n') return false;
        // Records are small next to memory; find the start of the last line.
        var bytes = new byte[file.Length];
        file.Seek(0, SeekOrigin.Begin);
        file.ReadExactly(bytes);
        var start = Array.LastIndexOf(bytes, (byte)'\n') + 1;
        var tail = System.Text.Encoding.UTF8.GetString(bytes, start, bytes.Length - start);
        if (IsRecord(tail))
        {
            file.Seek(0, SeekOrigin.End);
            file.WriteByte((byte)'\n');
            return false;
        }

        file.SetLength(start);
        return true;
    }

    private static bool IsRecord(string line)
    {
        try
        {
            return JsonSerializer.Deserialize<QuestionResult>(line, Json) is not null;
        }
        catch (JsonException)
        {
            return false;
        }
    }

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

    /// <summary>
    /// The latest record per benchmark and asked prompt (<see cref="QuestionHash"/>); a truncated LAST line (a run
    /// killed mid-write) is ignored, any other bad line is an error.
    /// </summary>
    public static IReadOnlyList<QuestionResult> Read(string path)
    {
        var lines = File.ReadAllLines(path);
        var latest = new Dictionary<(string, string), QuestionResult>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            QuestionResult? record;
            try
            {
                record = JsonSerializer.Deserialize<QuestionResult>(lines[i], Json);
            }
            catch (JsonException) when (i == lines.Length - 1)
            {
                continue;
            }
            catch (JsonException e)
            {
                throw new BenchmarkFormatException($"{path}:{i + 1}: not a result record: {e.Message}");
            }

            if (record?.Prompt is null || record.Benchmark is null) throw new BenchmarkFormatException($"{path}:{i + 1}: not a result record (no benchmark or prompt).");
            latest.Remove((record.Benchmark, QuestionHash.Of(record.Prompt)));
            latest[(record.Benchmark, QuestionHash.Of(record.Prompt))] = record;
        }

        return latest.Values.ToList();
    }
}
