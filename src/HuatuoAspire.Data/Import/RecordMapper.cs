using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Data.Entities;

namespace HuatuoAspire.Data.Import;

/// <summary>How MedMCQA's `cop` counts: the Hugging Face dataset uses 0..3, the original release files 1..4.</summary>
public enum CopBase { Zero = 0, One = 1 }

/// <summary>Validates one source record of a known format and maps it to the rows it contributes.</summary>
public static class RecordMapper
{
    // Field names of the reference formats.
    public const string OpenEndedField = "Open-ended Verifiable Question";
    public const string GroundTruthField = "Ground-True Answer";

    private static readonly string[] MedMcqaOptionFields = ["opa", "opb", "opc", "opd"];
    private static readonly HashSet<string> DemoFields = ["question", "options", "answer_idx", "answer", OpenEndedField, GroundTruthField, "Question", "Complex_CoT", "Response"];
    private static readonly HashSet<string> MedQaFields = ["question", "options", "answer_idx", "answer"];
    private static readonly string[] McqFields = ["question", "options", "answer_idx", "answer"];
    private static readonly HashSet<string> MedMcqaFields = ["question", "opa", "opb", "opc", "opd", "cop"];

    /// <summary>Guesses the format from a record's field names; null when it matches none.</summary>
    public static ImportFormat? Detect(JsonElement record)
    {
        if (record.ValueKind != JsonValueKind.Object) return null;
        bool Has(string name) => record.TryGetProperty(name, out _);
        if (Has(OpenEndedField) || Has(GroundTruthField)) return ImportFormat.Demo;
        if (Has("opa") && Has("cop")) return ImportFormat.MedMcqa;
        if (Has("question") && Has("options")) return ImportFormat.MedQa;
        if (Has("Question") && Has("Complex_CoT")) return ImportFormat.Sft;
        return null;
    }

    public static ImportRow Map(JsonElement record, ImportFormat format, int line, CopBase copBase)
    {
        if (record.ValueKind != JsonValueKind.Object) throw new RowFormatException($"record is a JSON {record.ValueKind}, not an object");
        return format switch
        {
            ImportFormat.Demo => MapDemo(record, line),
            ImportFormat.MedQa => new ImportRow(line, MapMedQaQuestion(record, MedQaFields), null, null),
            ImportFormat.MedMcqa => new ImportRow(line, MapMedMcqaQuestion(record, copBase), null, null),
            ImportFormat.Sft => new ImportRow(line, null, null, MapTrajectory(record, RequiredString(record, "Question"))),
            _ => throw new ArgumentOutOfRangeException(nameof(format)),
        };
    }

    private static ImportRow MapDemo(JsonElement record, int line)
    {
        // A verifiable-problem file may come without the source MCQ (only the two open-ended fields); a row with part
        // of the MCQ (options, answer) but no question is a broken row, not a problem-only one.
        var hasQuestionPart = McqFields.Any(f => record.TryGetProperty(f, out _));
        var question = hasQuestionPart ? MapMedQaQuestion(record, DemoFields) : null;
        var openEnded = RequiredString(record, OpenEndedField);
        var groundTruth = RequiredString(record, GroundTruthField);
        var problem = new ProblemPart(openEnded, groundTruth, ContentHash.Of(openEnded, groundTruth));
        TrajectoryPart? trajectory = null;
        if (record.TryGetProperty("Complex_CoT", out _) || record.TryGetProperty("Response", out _))
        {
            var sftQuestion = OptionalString(record, "Question") ?? openEnded;
            trajectory = MapTrajectory(record, sftQuestion);
        }
        return new ImportRow(line, question, problem, trajectory);
    }

    private static TrajectoryPart MapTrajectory(JsonElement record, string question)
    {
        var cot = RequiredString(record, "Complex_CoT");
        var response = RequiredString(record, "Response");
        return new TrajectoryPart(question, cot, response, ContentHash.Of(question, cot, response));
    }

    private static QuestionPart MapMedQaQuestion(JsonElement record, HashSet<string> knownFields)
    {
        var question = RequiredString(record, "question");
        if (!record.TryGetProperty("options", out var optionsElement)) throw new RowFormatException("missing field 'options'");
        var options = ReadOptions(optionsElement);
        if (!record.TryGetProperty("answer_idx", out var idxElement)) throw new RowFormatException("missing field 'answer_idx'");
        if (idxElement.ValueKind != JsonValueKind.String)
            throw new RowFormatException($"field 'answer_idx' must be an option letter string, not a JSON {idxElement.ValueKind}");
        var answerIdx = idxElement.GetString()!.Trim();
        if (!options.TryGetValue(answerIdx, out var optionText))
            throw new RowFormatException($"answer_idx '{answerIdx}' is not one of the options ({string.Join(", ", options.Keys)})");
        var answer = OptionalString(record, "answer");
        if (answer is not null && !string.Equals(answer.Trim(), optionText.Trim(), StringComparison.Ordinal))
            throw new RowFormatException($"answer '{answer}' differs from option {answerIdx} '{optionText}'");
        answer ??= optionText;
        var meta = ExtraFields(record, knownFields);
        return new QuestionPart(question, options, answerIdx, answer, meta, ContentHash.Of(question, options, answerIdx, answer));
    }

    private static QuestionPart MapMedMcqaQuestion(JsonElement record, CopBase copBase)
    {
        var question = RequiredString(record, "question");
        var options = new Dictionary<string, string>();
        for (var i = 0; i < MedMcqaOptionFields.Length; i++)
            options[((char)('A' + i)).ToString()] = RequiredString(record, MedMcqaOptionFields[i]);

        if (!record.TryGetProperty("cop", out var copElement) || copElement.ValueKind == JsonValueKind.Null)
            throw new RowFormatException("missing field 'cop' (the correct option; unlabelled test rows cannot be imported)");
        int cop;
        if (copElement.ValueKind == JsonValueKind.Number && copElement.TryGetInt32(out var n)) cop = n;
        else if (copElement.ValueKind == JsonValueKind.String && int.TryParse(copElement.GetString(), out var s)) cop = s;
        else throw new RowFormatException($"field 'cop' must be an integer, not {copElement.GetRawText()}");
        var index = cop - (int)copBase;
        if (index is < 0 or > 3)
        {
            var range = copBase == CopBase.Zero ? "0..3" : "1..4";
            var hint = copBase == CopBase.Zero && cop == 4 ? " (the original MedMCQA files count from 1: use --cop-base 1)"
                : copBase == CopBase.One && cop == 0 ? " (the Hugging Face export counts from 0: use --cop-base 0)" : "";
            throw new RowFormatException($"cop {cop} is outside {range}{hint}");
        }
        var answerIdx = ((char)('A' + index)).ToString();
        var answer = options[answerIdx];
        var meta = ExtraFields(record, MedMcqaFields);
        return new QuestionPart(question, options, answerIdx, answer, meta, ContentHash.Of(question, options, answerIdx, answer));
    }

    /// <summary>Options as {"A": "..."} or as [{"key": "A", "value": "..."}] (both appear in MedQA copies).</summary>
    private static Dictionary<string, string> ReadOptions(JsonElement element)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        void Add(string key, JsonElement value)
        {
            key = key.Trim();
            if (key.Length == 0) throw new RowFormatException("an option has an empty letter");
            if (value.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(value.GetString()))
                throw new RowFormatException($"option '{key}' must be non-empty text");
            if (!options.TryAdd(key, value.GetString()!)) throw new RowFormatException($"option '{key}' appears twice");
        }

        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in element.EnumerateObject()) Add(p.Name, p.Value);
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("key", out var k) || k.ValueKind != JsonValueKind.String
                        || !item.TryGetProperty("value", out var v))
                        throw new RowFormatException("field 'options' as an array must hold {\"key\": letter, \"value\": text} objects");
                    Add(k.GetString()!, v);
                }
                break;
            default:
                throw new RowFormatException($"field 'options' must be an object of letter → text, not a JSON {element.ValueKind}");
        }
        if (options.Count < 2) throw new RowFormatException($"field 'options' has {options.Count} option(s); a multiple-choice question needs at least 2");
        return options;
    }

    private static string RequiredString(JsonElement record, string name)
    {
        if (!record.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) throw new RowFormatException($"missing field '{name}'");
        if (value.ValueKind != JsonValueKind.String) throw new RowFormatException($"field '{name}' must be a string, not a JSON {value.ValueKind}");
        var text = value.GetString()!;
        if (string.IsNullOrWhiteSpace(text)) throw new RowFormatException($"field '{name}' is empty");
        return text;
    }

    private static string? OptionalString(JsonElement record, string name)
    {
        if (!record.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.String) throw new RowFormatException($"field '{name}' must be a string, not a JSON {value.ValueKind}");
        return value.GetString();
    }

    /// <summary>The record's fields that the format does not map (meta_info, exp, subject_name, ...) as a JSON object, or null.</summary>
    private static string? ExtraFields(JsonElement record, HashSet<string> knownFields)
    {
        JsonObject? extra = null;
        foreach (var p in record.EnumerateObject())
        {
            if (knownFields.Contains(p.Name)) continue;
            extra ??= [];
            extra[p.Name] = JsonNode.Parse(p.Value.GetRawText());
        }
        return extra?.ToJsonString();
    }
}
