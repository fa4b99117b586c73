using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Reasoning.Llm;

namespace HuatuoAspire.Reasoning.Files;

public sealed record RecordRunProgress(int Total, int AlreadyDone, int Completed, int Deferred);

public sealed record RecordRunSummary(int Total, int AlreadyDone, int Completed, IReadOnlyList<string> Deferred, TimeSpan Elapsed)
{
    /// <summary>Items that hit an LLM error retries could not cure; they are not written, so the next run retries them.</summary>
    public int DeferredCount => Deferred.Count;
}

/// <summary>
/// Processes input records into a JSON-lines output file, the command-line equivalent of a job: records already in
/// the output (by process_id) are skipped, each finished record is appended and flushed at once, so a killed run
/// resumes where it stopped. A half-written last line from a crash is cut off; any other damage stops the run.
/// </summary>
public sealed class ResumableRecordRun(string outputPath, int concurrency)
{
    public async Task<RecordRunSummary> RunAsync(
        IReadOnlyList<InputRecord> inputs,
        Func<InputRecord, CancellationToken, Task<JsonObject>> process,
        IProgress<RecordRunProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (concurrency < 1) throw new ArgumentOutOfRangeException(nameof(concurrency), concurrency, "concurrency must be at least 1");
        var started = System.Diagnostics.Stopwatch.StartNew();
        var done = ReadFinishedIds(outputPath);
        var pending = inputs.Where(input => !done.Contains(input.ProcessId)).ToList();
        var alreadyDone = inputs.Count - pending.Count;
        var completed = 0;
        var deferred = new List<string>();
        var gate = new Lock();
        progress?.Report(new RecordRunProgress(inputs.Count, alreadyDone, 0, 0));

        var directory = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (directory is not null) Directory.CreateDirectory(directory);
        await using var output = new FileStream(outputPath, FileMode.Append, FileAccess.Write, FileShare.Read);
        var writeLock = new SemaphoreSlim(1, 1);

        await Parallel.ForEachAsync(pending, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (input, ct) =>
            {
                JsonObject record;
                try
                {
                    record = await process(input, ct).ConfigureAwait(false);
                }
                catch (LlmCallException exception)
                {
                    lock (gate) deferred.Add($"process_id {input.ProcessId}: {exception.Message}");
                    Report();
                    return;
                }
                record[RecordFile.ProcessIdField] = input.ProcessId;
                var line = Encoding.UTF8.GetBytes(record.ToJsonString(RecordFile.OutputJson) + "\n");
                await writeLock.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    await output.WriteAsync(line, ct).ConfigureAwait(false);
                    await output.FlushAsync(ct).ConfigureAwait(false);
                }
                finally
                {
                    writeLock.Release();
                }
                lock (gate) completed++;
                Report();
            }).ConfigureAwait(false);

        return new RecordRunSummary(inputs.Count, alreadyDone, completed, deferred, started.Elapsed);

        void Report()
        {
            lock (gate) progress?.Report(new RecordRunProgress(inputs.Count, alreadyDone, completed, deferred.Count));
        }
    }

    /// <summary>process_ids already in the output; a torn last line (no newline, unparsable) is removed.</summary>
    public static HashSet<int> ReadFinishedIds(string path)
    {
        var ids = new HashSet<int>();
        if (!File.Exists(path)) return ids;
        var bytes = File.ReadAllBytes(path);
        var text = Encoding.UTF8.GetString(bytes);
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0) continue;
            var isLast = i == lines.Length - 1; // no newline after it: the write was cut short
            try
            {
                if (JsonNode.Parse(line) is JsonObject record && record[RecordFile.ProcessIdField] is JsonValue value && value.TryGetValue<int>(out var id))
                {
                    ids.Add(id);
                    continue;
                }
                if (!isLast) throw new RecordFileException($"{path}:{i + 1}: output record has no integer \"{RecordFile.ProcessIdField}\"; fix or move the file before resuming.");
            }
            catch (JsonException exception) when (!isLast)
            {
                throw new RecordFileException($"{path}:{i + 1}: output line is not valid JSON ({exception.Message}); fix or move the file before resuming.");
            }
            catch (JsonException)
            {
            }
            var keep = Encoding.UTF8.GetByteCount(string.Join('\n', lines.Take(i))) + (i > 0 ? 1 : 0);
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
            stream.SetLength(keep);
            return ids;
        }
        if (bytes.Length > 0 && bytes[^1] != (byte)'\n') File.AppendAllText(path, "\n");
        return ids;
    }
}
