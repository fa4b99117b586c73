using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Reasoning.Construction;
using HuatuoAspire.Reasoning.Search;

namespace HuatuoAspire.Reasoning.Files;

/// <summary>The record formats of the file mode: the reference's field names plus our verdict and trace fields.</summary>
public static class PipelineRecords
{
    public const string OpenEndedQuestion = "Open-ended Verifiable Question";
    public const string GroundTruthAnswer = "Ground-True Answer";

    /// <summary>Checks every record before any LLM call, so a bad file fails at once with every problem listed.</summary>
    public static List<(InputRecord Input, MultipleChoiceQuestion Question)> ReadMultipleChoice(IReadOnlyList<InputRecord> inputs, string path)
    {
        var errors = new List<string>();
        var result = new List<(InputRecord, MultipleChoiceQuestion)>();
        foreach (var input in inputs)
        {
            var question = MultipleChoiceQuestion.FromJson(input.Json, out var error);
            if (question is null) errors.Add($"{path}: record with process_id {input.ProcessId}: {error}");
            else result.Add((input, question));
        }
        if (errors.Count > 0) throw new RecordFileException(string.Join(Environment.NewLine, errors.Take(20)) + (errors.Count > 20 ? $"{Environment.NewLine}... and {errors.Count - 20} more" : ""));
        return result;
    }

    /// <summary>Records with a non-empty question and answer (construction rejects have neither and are skipped).</summary>
    public static List<(InputRecord Input, string Question, string Answer)> ReadVerifiable(IReadOnlyList<InputRecord> inputs, out int skipped)
    {
        var result = new List<(InputRecord, string, string)>();
        foreach (var input in inputs)
        {
            var question = Text(input.Json, OpenEndedQuestion);
            var answer = Text(input.Json, GroundTruthAnswer);
            if (question is not null && answer is not null) result.Add((input, question, answer));
        }
        skipped = inputs.Count - result.Count;
        return result;
    }

    public static JsonObject ConstructionRecord(InputRecord input, ConstructionResult result)
    {
        var record = (JsonObject)input.Json.DeepClone();
        if (result.Status == ConstructionStatus.Accepted)
        {
            record[OpenEndedQuestion] = result.OpenEndedQuestion;
            record[GroundTruthAnswer] = result.GroundTruthAnswer;
        }
        record["construction_status"] = result.Status.ToString();
        record["filter_verdict"] = result.Verdict is { } verdict ? ProblemConstruction.Label(verdict) : null;
        record["construction"] = JsonSerializer.SerializeToNode(result, RecordFile.OutputJson);
        return record;
    }

    public static JsonObject SearchRecord(InputRecord input, SearchResult result)
    {
        var record = (JsonObject)input.Json.DeepClone();
        if (result.Status != SearchStatus.Failed)
        {
            record["Question"] = result.Question;
            record["Complex_CoT"] = result.ComplexCot;
            record["Response"] = result.Response;
        }
        record["search_status"] = result.Status.ToString();
        record["verified"] = result.Status == SearchStatus.Verified;
        record["label_guided"] = result.Status == SearchStatus.LabelGuided;
        record["Long_CoT"] = JsonSerializer.SerializeToNode(result.LongCot, RecordFile.OutputJson);
        record["search"] = JsonSerializer.SerializeToNode(result, RecordFile.OutputJson);
        return record;
    }

    private static string? Text(JsonObject json, string key) =>
        json[key] is JsonValue value && value.GetValueKind() == JsonValueKind.String && ((string)value!).Trim().Length > 0 ? ((string)value!).Trim() : null;
}
