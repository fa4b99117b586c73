using System.Runtime.CompilerServices;
using System.Text.Json;

namespace HuatuoAspire.Data.Import;

/// <summary>
/// One top-level record of an import file: its parsed JSON (owned; dispose it) or why it could not be parsed, and
/// the 1-based line it starts on. <see cref="Fatal"/> means the file cannot be read any further (a broken JSON array).
/// </summary>
public sealed class SourceRecord(int line, JsonDocument? document, string? error, bool fatal = false) : IDisposable
{
    public int Line { get; } = line;
    public JsonDocument? Document { get; } = document;
    public string? Error { get; } = error;
    public bool Fatal { get; } = fatal;
    public void Dispose() => Document?.Dispose();
}

/// <summary>
/// Streams the records of a JSON file without loading it whole: a top-level JSON array (one element in memory at
/// a time, each with the line its element starts on) or JSON Lines (one record per line; a malformed line is
/// reported and reading goes on).
/// </summary>
public static class JsonRecordReader
{
    private const int InitialBufferSize = 64 * 1024;

    public static async IAsyncEnumerable<SourceRecord> ReadAsync(Stream stream, [EnumeratorCancellation] CancellationToken ct = default)
    {
        if (!stream.CanSeek) throw new ArgumentException("The record reader needs a seekable stream (a file).", nameof(stream));
        var isArray = await StartsWithArrayAsync(stream, ct);
        stream.Seek(0, SeekOrigin.Begin);
        var records = isArray ? ReadArrayAsync(stream, ct) : ReadLinesAsync(stream, ct);
        await foreach (var record in records) yield return record;
    }

    private static async Task<bool> StartsWithArrayAsync(Stream stream, CancellationToken ct)
    {
        var buffer = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(buffer, ct)) > 0)
        {
            foreach (var b in buffer.AsSpan(0, read))
            {
                if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or 0xEF or 0xBB or 0xBF) continue; // whitespace, UTF-8 BOM
                return b == (byte)'[';
            }
        }
        return false;
    }

    private static async IAsyncEnumerable<SourceRecord> ReadLinesAsync(Stream stream, [EnumeratorCancellation] CancellationToken ct)
    {
        // Lines are split as bytes, not decoded by a StreamReader: it would replace bytes that are not UTF-8 silently.
        var buffer = new byte[InitialBufferSize];
        var length = 0;
        var eof = false;
        var lineNumber = 0;
        while (true)
        {
            var start = 0;
            int newline;
            while ((newline = buffer.AsSpan(start, length - start).IndexOf((byte)'\n')) >= 0)
            {
                var record = ParseLine(buffer.AsSpan(start, newline), ++lineNumber);
                start += newline + 1;
                if (record is not null) yield return record;
            }
            Buffer.BlockCopy(buffer, start, buffer, 0, length - start);
            length -= start;
            if (eof)
            {
                if (length > 0 && ParseLine(buffer.AsSpan(0, length), ++lineNumber) is { } last) yield return last;
                yield break;
            }
            if (length == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2); // one line larger than the buffer
            var read = await stream.ReadAsync(buffer.AsMemory(length), ct);
            if (read == 0) eof = true;
            length += read;
        }
    }

    /// <summary>One JSON Lines record, or null for a blank line.</summary>
    private static SourceRecord? ParseLine(ReadOnlySpan<byte> line, int lineNumber)
    {
        if (lineNumber == 1 && line.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) line = line[3..];
        if (line.EndsWith("\r"u8)) line = line[..^1];
        if (line.Trim(" \t\r"u8).IsEmpty) return null;
        if (Utf8Check.FindInvalid(line) is { } invalid) return new SourceRecord(lineNumber, null, invalid.Reason);
        try
        {
            return new SourceRecord(lineNumber, JsonDocument.Parse(line.ToArray()), null);
        }
        catch (JsonException ex)
        {
            return new SourceRecord(lineNumber, null, Describe(ex));
        }
    }

    private static async IAsyncEnumerable<SourceRecord> ReadArrayAsync(Stream stream, [EnumeratorCancellation] CancellationToken ct)
    {
        var scan = new ArrayScan();
        var buffer = new byte[InitialBufferSize];
        var length = 0;
        var eof = false;
        var skippedBom = false;
        while (true)
        {
            if (!eof)
            {
                if (length == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2); // one element larger than the buffer
                var read = await stream.ReadAsync(buffer.AsMemory(length), ct);
                if (read == 0) eof = true;
                length += read;
                if (!skippedBom && length >= 3)
                {
                    skippedBom = true;
                    if (buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF)
                    {
                        Buffer.BlockCopy(buffer, 3, buffer, 0, length - 3);
                        length -= 3;
                    }
                }
            }

            var step = scan.Step(buffer, length, eof);
            foreach (var element in step.Elements)
            {
                if (element.Error is not null)
                {
                    yield return new SourceRecord(element.Line, null, element.Error);
                    continue;
                }
                yield return new SourceRecord(element.Line, JsonDocument.Parse(element.Json), null);
            }
            if (step.FatalError is not null)
            {
                yield return new SourceRecord(step.FatalLine, null, step.FatalError, fatal: true);
                yield break;
            }
            if (step.Done) yield break;

            // Drop what was consumed and keep the unfinished tail for the next read.
            Buffer.BlockCopy(buffer, step.Consumed, buffer, 0, length - step.Consumed);
            length -= step.Consumed;
            if (eof && step.Consumed == 0)
            {
                yield return new SourceRecord(scan.LineAtBufferStart, null, "the JSON array is not closed (file ends inside it)", fatal: true);
                yield break;
            }
        }
    }

    /// <summary>"invalid JSON at column N: reason", without System.Text.Json's reader-relative line numbers.</summary>
    private static string Describe(JsonException ex)
    {
        var message = ex.Message;
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut >= 0) message = message[..cut];
        var column = ex.BytePositionInLine is { } b ? $" at column {b + 1}" : "";
        return $"invalid JSON{column}: {message}";
    }

    private readonly record struct ScannedElement(int Line, byte[] Json, string? Error);

    private sealed class ScanStep
    {
        public List<ScannedElement> Elements { get; } = [];
        public int Consumed { get; set; }
        public bool Done { get; set; }
        public string? FatalError { get; set; }
        public int FatalLine { get; set; }
    }

    /// <summary>The synchronous half of the array reader: Utf8JsonReader is a ref struct and cannot live across awaits.</summary>
    private sealed class ArrayScan
    {
        private JsonReaderState _state = new(new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        private bool _insideArray;

        /// <summary>Line number (1-based) of the first byte currently in the buffer.</summary>
        public int LineAtBufferStart { get; private set; } = 1;

        public ScanStep Step(byte[] buffer, int length, bool isFinalBlock)
        {
            var step = new ScanStep();
            var span = buffer.AsSpan(0, length);
            var reader = new Utf8JsonReader(span, isFinalBlock, _state);
            var consumed = 0;
            var savedState = _state;
            var lineCountedTo = 0;
            var linesSoFar = LineAtBufferStart;
            int LineAt(int offset)
            {
                linesSoFar += buffer.AsSpan(lineCountedTo, offset - lineCountedTo).Count((byte)'\n');
                lineCountedTo = offset;
                return linesSoFar;
            }

            try
            {
                if (!_insideArray)
                {
                    if (!reader.Read()) return step;
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        step.FatalError = "the file must be a JSON array of records or JSON Lines";
                        step.FatalLine = LineAt((int)reader.TokenStartIndex);
                        return step;
                    }
                    _insideArray = true;
                    consumed = (int)reader.BytesConsumed;
                    savedState = reader.CurrentState;
                }

                while (true)
                {
                    if (!reader.Read()) break;
                    if (reader.TokenType == JsonTokenType.EndArray)
                    {
                        consumed = (int)reader.BytesConsumed;
                        savedState = reader.CurrentState;
                        step.Done = true;
                        break;
                    }

                    var start = (int)reader.TokenStartIndex;
                    var tokenType = reader.TokenType;
                    if (tokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && !reader.TrySkip()) break; // element not complete yet
                    var end = (int)reader.BytesConsumed;
                    var line = LineAt(start);
                    var invalid = Utf8Check.FindInvalid(span[start..end]);
                    step.Elements.Add(tokenType != JsonTokenType.StartObject
                        ? new ScannedElement(line, [], $"array element is a JSON {tokenType}, not an object")
                        : invalid is { } bad
                            ? new ScannedElement(line + bad.LineOffset, [], bad.Reason)
                            : new ScannedElement(line, span[start..end].ToArray(), null));
                    consumed = end;
                    savedState = reader.CurrentState;
                }
            }
            catch (JsonException ex)
            {
                step.FatalError = Describe(ex);
                step.FatalLine = LineAtBufferStart + (int)(ex.LineNumber ?? 0);
                return step;
            }

            LineAt(consumed);
            LineAtBufferStart = linesSoFar;
            _state = savedState;
            step.Consumed = consumed;
            return step;
        }
    }
}
