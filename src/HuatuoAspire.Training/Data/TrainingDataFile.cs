using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Training.Synthetic;

namespace HuatuoAspire.Training.Data;

/// <summary>One SFT example in the HuatuoGPT-o1 SFT format.</summary>
public sealed record SftRecord(string Question, string ComplexCot, string Response);

/// <summary>One PPO prompt: a verifiable question and its ground-truth answer.</summary>
public sealed record PpoRecord(string Question, string GroundTruth);

public sealed class TrainingDataException(string message) : Exception(message);

/// <summary>
/// Reads training data from a JSON array or a JSONL file (one object per line). Field names are those of the
/// reference data: SFT needs <c>Question</c>, <c>Complex_CoT</c>, <c>Response</c>; PPO needs
/// <c>Open-ended Verifiable Question</c> (or <c>Question</c>) and <c>Ground-True Answer</c>.
/// A bad record is an error naming the file, the record and the field.
/// </summary>
public static class TrainingDataFile
{
    public static IReadOnlyList<SftRecord> ReadSft(string path) =>
        Read(path, (obj, where) => new SftRecord(Field(obj, where, "Question"), Field(obj, where, "Complex_CoT"), Field(obj, where, "Response")));

    public static IReadOnlyList<PpoRecord> ReadPpo(string path) =>
        Read(path, (obj, where) => new PpoRecord(
            obj.ContainsKey("Open-ended Verifiable Question") ? Field(obj, where, "Open-ended Verifiable Question") : Field(obj, where, "Question"),
            Field(obj, where, "Ground-True Answer")));

    public static void WriteSft(string path, IEnumerable<MedicalCalculationProblem> problems) =>
        WriteJsonl(path, problems.Select(p => new JsonObject { ["Question"] = p.Question, ["Complex_CoT"] = p.Thinking, ["Response"] = p.FinalResponse }));

    public static void WritePpo(string path, IEnumerable<MedicalCalculationProblem> problems) =>
        WriteJsonl(path, problems.Select(p => new JsonObject { ["Open-ended Verifiable Question"] = p.Question, ["Ground-True Answer"] = p.GroundTruth }));

    public static void WritePpo(string path, IEnumerable<PpoRecord> records) =>
        WriteJsonl(path, records.Select(r => new JsonObject { ["Open-ended Verifiable Question"] = r.Question, ["Ground-True Answer"] = r.GroundTruth }));

    private static void WriteJsonl(string path, IEnumerable<JsonObject> rows)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var writer = new StreamWriter(path);
        foreach (var row in rows) writer.WriteLine(row.ToJsonString());
    }

    private static List<T> Read<T>(string path, Func<JsonObject, string, T> parse)
    {
        if (!File.Exists(path)) throw new TrainingDataException($"{path}: the data file does not exist.");
        var text = File.ReadAllText(path);
        var result = new List<T>();
        var trimmed = text.TrimStart();
        if (trimmed.StartsWith('['))
        {
            JsonNode? root;
            try { root = JsonNode.Parse(text); }
            catch (JsonException e) { throw new TrainingDataException($"{path}: not valid JSON ({e.Message})."); }
            var array = root as JsonArray ?? throw new TrainingDataException($"{path}: expected a JSON array of records.");
            for (var i = 0; i < array.Count; i++)
            {
                var where = $"{path}: record {i}";
                result.Add(parse(array[i] as JsonObject ?? throw new TrainingDataException($"{where} is not a JSON object."), where));
            }
        }
        else
        {
            var lineNumber = 0;
            foreach (var line in text.Split('\n'))
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                var where = $"{path}: line {lineNumber}";
                JsonNode? node;
                try { node = JsonNode.Parse(line); }
                catch (JsonException e) { throw new TrainingDataException($"{where} is not valid JSON ({e.Message})."); }
                result.Add(parse(node as JsonObject ?? throw new TrainingDataException($"{where} is not a JSON object."), where));
            }
        }
        if (result.Count == 0) throw new TrainingDataException($"{path}: no records.");
        return result;
    }

    private static string Field(JsonObject obj, string where, string name)
    {
        if (!obj.TryGetPropertyValue(name, out var node) || node is null)
            throw new TrainingDataException($"{where} has no '{name}' field.");
        if (node is not JsonValue value || !value.TryGetValue<string>(out var text))
            throw new TrainingDataException($"{where}: '{name}' is not a string.");
        if (string.IsNullOrWhiteSpace(text)) throw new TrainingDataException($"{where}: '{name}' is empty.");
        return text;
    }
}
