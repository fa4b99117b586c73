using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Reasoning.Files;

/// <summary>One input record and its identity: "process_id" when the record has one, else its 1-based position.</summary>
public sealed record InputRecord(int ProcessId, JsonObject Json);

public sealed class RecordFileException(string message) : Exception(message);

/// <summary>Reads a JSON array or JSON-lines file of records, as the reference scripts take them.</summary>
public static class RecordFile
{
    public const string ProcessIdField = "process_id";

    public static readonly JsonSerializerOptions OutputJson = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    public static List<InputRecord> Read(string path)
    {
        if (!File.Exists(path)) throw new RecordFileException($"{path}: file not found.");
        var text = File.ReadAllText(path, Encoding.UTF8);
        var errors = new List<string>();
        var records = new List<JsonObject>();
        if (text.TrimStart().StartsWith('['))
        {
            JsonArray array;
            try
            {
                array = JsonNode.Parse(text) as JsonArray ?? throw new RecordFileException($"{path}: not a JSON array.");
            }
            catch (JsonException exception)
            {
                throw new RecordFileException($"{path}: invalid JSON at line {exception.LineNumber + 1}, byte {exception.BytePositionInLine}: {exception.Message}");
            }
            for (var i = 0; i < array.Count; i++)
            {
                if (array[i] is JsonObject item) records.Add(item);
                else errors.Add($"{path}: item {i + 1} is not a JSON object");
            }
        }
        else
        {
            var lines = text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i].Trim();
                if (line.Length == 0) continue;
                try
                {
                    if (JsonNode.Parse(line) is JsonObject item) records.Add(item);
                    else errors.Add($"{path}:{i + 1}: not a JSON object");
                }
                catch (JsonException exception)
                {
                    errors.Add($"{path}:{i + 1}: invalid JSON ({exception.Message})");
                }
            }
        }
        if (errors.Count > 0) throw new RecordFileException(Summarise(errors));

        var result = new List<InputRecord>(records.Count);
        var seen = new Dictionary<int, int>();
        for (var i = 0; i < records.Count; i++)
        {
            var id = i + 1;
            if (records[i][ProcessIdField] is JsonNode node)
            {
                if (node is JsonValue value && value.TryGetValue<int>(out var given)) id = given;
                else { errors.Add($"{path}: item {i + 1}: \"{ProcessIdField}\" must be an integer"); continue; }
            }
            if (seen.TryGetValue(id, out var first)) errors.Add($"{path}: items {first} and {i + 1} share {ProcessIdField} {id}");
            else seen[id] = i + 1;
            result.Add(new InputRecord(id, records[i]));
        }
        if (errors.Count > 0) throw new RecordFileException(Summarise(errors));
        return result;
    }

    private static string Summarise(List<string> errors) =>
        string.Join(Environment.NewLine, errors.Take(20)) + (errors.Count > 20 ? $"{Environment.NewLine}... and {errors.Count - 20} more" : "");
}
