using System.Text.Json;

namespace HuatuoAspire.Evaluation;

/// <summary>One multiple-choice question of a benchmark, options in file order.</summary>
public sealed record BenchmarkQuestion(string Benchmark, int Index, string Question,
    IReadOnlyList<KeyValuePair<string, string>> Options, string AnswerIdx, string? Answer);

/// <summary>Bad benchmark input: says which file and where.</summary>
public sealed class BenchmarkFormatException(string message) : Exception(message);

/// <summary>
/// Reads benchmarks in the reference format: a JSON object keyed by benchmark name, each a list of
/// {question, options:{A:…}, answer_idx, answer} (a bare list is the benchmark "normal", as the reference reads it);
/// or JSONL with the same fields and an optional "source" (the benchmark name, "unknown" when absent). A file, or a
/// benchmark, without questions is an error. Places are "file:line" (from 1) and "item N" (counted from 1).
/// </summary>
public static class BenchmarkLoader
{
    public static IReadOnlyList<BenchmarkQuestion> Load(string path)
    {
        if (!File.Exists(path)) throw new BenchmarkFormatException($"{path}: file not found.");
        var text = File.ReadAllText(path);
        if (string.IsNullOrWhiteSpace(text)) throw new BenchmarkFormatException($"{path}: the file is empty; it holds no questions.");
        var questions = IsJsonl(path, text) ? LoadJsonl(path, text) : LoadKeyed(path, text);
        if (questions.Count == 0) throw new BenchmarkFormatException($"{path}: no questions in the file.");
        return questions;
    }

    /// <summary>
    /// JSONL when named so, or when the first line is a whole JSON object that is a record (not an object of lists):
    /// a pretty-printed keyed file starts with a line that is not whole JSON, and is then read (and reported) whole.
    /// </summary>
    private static bool IsJsonl(string path, string text)
    {
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)) return true;
        var trimmed = text.TrimStart();
        if (!trimmed.StartsWith('{') && !trimmed.StartsWith('[')) return true;
        var firstLine = trimmed.Split('\n', 2)[0].Trim();
        try
        {
            using var probe = JsonDocument.Parse(firstLine);
            return probe.RootElement.ValueKind == JsonValueKind.Object
                && probe.RootElement.EnumerateObject().Any(p => p.Value.ValueKind != JsonValueKind.Array);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static List<BenchmarkQuestion> LoadKeyed(string path, string text)
    {
        using (var document = Parse(text, e => $"{path}:{e.LineNumber + 1}"))
        {
            var root = document.RootElement;
            var benchmarks = root.ValueKind switch
            {
                JsonValueKind.Object => root.EnumerateObject().Select(p => (p.Name, p.Value)).ToList(),
                JsonValueKind.Array => [("normal", root)],
                _ => throw new BenchmarkFormatException($"{path}:1: expected a JSON object keyed by benchmark name, found {root.ValueKind}."),
            };
            var questions = new List<BenchmarkQuestion>();
            foreach (var (name, items) in benchmarks)
            {
                if (items.ValueKind != JsonValueKind.Array)
                    throw new BenchmarkFormatException($"{path}: benchmark '{name}' must be a list of questions, found {items.ValueKind}.");
                if (items.GetArrayLength() == 0) throw new BenchmarkFormatException($"{path}: benchmark '{name}' has no questions.");
                var index = 0;
                foreach (var item in items.EnumerateArray())
                {
                    questions.Add(Read(item, name, index, $"{path}: benchmark '{name}' item {index + 1} (counted from 1)"));
                    index++;
                }
            }

            return questions;
        }
    }
    /// <summary>Parses JSON; invalid JSON is an error at the place <paramref name="where"/> names.</summary>
    private static JsonDocument Parse(string json, Func<JsonException, string> where)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new BenchmarkFormatException($"{where(e)}: invalid JSON: {e.Message}");
        }
    }

    private static List<BenchmarkQuestion> LoadJsonl(string path, string text)
    {
        var questions = new List<BenchmarkQuestion>();
        var perBenchmark = new Dictionary<string, int>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0) continue;
            using (var document = Parse(line, _ => $"{path}:{i + 1}"))
            {
                var where = $"{path}:{i + 1}";
                if (document.RootElement.ValueKind != JsonValueKind.Object) throw new BenchmarkFormatException($"{where}: expected a JSON object per line.");
                var source = document.RootElement.TryGetProperty("source", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()! : "unknown";
                perBenchmark.TryGetValue(source, out var index);
                perBenchmark[source] = index + 1;
                questions.Add(Read(document.RootElement, source, index, where));
            }
        }

        return questions;
    }

    private static BenchmarkQuestion Read(JsonElement item, string benchmark, int index, string where)
    {
        if (item.ValueKind != JsonValueKind.Object) throw new BenchmarkFormatException($"{where}: expected an object, found {item.ValueKind}.");
        var question = RequiredString(item, "question", where);
        if (!item.TryGetProperty("options", out var options) || options.ValueKind != JsonValueKind.Object)
            throw new BenchmarkFormatException($"{where}: 'options' must be an object like {{\"A\": \"...\"}}.");
        var optionList = new List<KeyValuePair<string, string>>();
        foreach (var option in options.EnumerateObject())
        {
            if (option.Value.ValueKind != JsonValueKind.String) throw new BenchmarkFormatException($"{where}: option '{option.Name}' must be a string.");
            optionList.Add(new(option.Name, option.Value.GetString()!));
        }

        if (optionList.Count < 2) throw new BenchmarkFormatException($"{where}: needs at least two options, found {optionList.Count}.");
        var answerIdx = RequiredString(item, "answer_idx", where);
        if (!optionList.Any(o => o.Key == answerIdx))
            throw new BenchmarkFormatException($"{where}: answer_idx '{answerIdx}' is not one of the options ({string.Join(", ", optionList.Select(o => o.Key))}).");
        var answer = item.TryGetProperty("answer", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
        return new BenchmarkQuestion(benchmark, index, question, optionList, answerIdx, answer);
    }

    private static string RequiredString(JsonElement item, string name, string where) =>
        item.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(value.GetString())
            ? value.GetString()!
            : throw new BenchmarkFormatException($"{where}: missing or empty string field '{name}'.");
}
