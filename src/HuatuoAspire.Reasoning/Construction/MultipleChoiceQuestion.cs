using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Reasoning.Construction;

/// <summary>An imported exam question in the reference format: question, options {A..}, answer_idx, answer.</summary>
public sealed record MultipleChoiceQuestion(string Question, IReadOnlyList<KeyValuePair<string, string>> Options, string AnswerIdx, string Answer)
{
    public string FormatWithOptions() =>
        Question.Trim() + "\n" + string.Join("\n", Options.Select(option => $"{option.Key}. {option.Value}"));

    /// <summary>Reads and checks one record; the error names the field that is wrong.</summary>
    public static MultipleChoiceQuestion? FromJson(JsonObject json, out string error)
    {
        var question = Text(json, "question");
        if (question is null) { error = "\"question\" is missing or not a non-empty string"; return null; }
        if (json["options"] is not JsonObject optionObject || optionObject.Count < 2)
        {
            error = "\"options\" must be an object with at least two options ({\"A\": ..., \"B\": ...})";
            return null;
        }
        var options = new List<KeyValuePair<string, string>>();
        foreach (var (key, value) in optionObject)
        {
            if (value is not JsonValue v || v.GetValueKind() != JsonValueKind.String) { error = $"option \"{key}\" is not a string"; return null; }
            options.Add(new(key, (string)v!));
        }
        var answerIdx = Text(json, "answer_idx");
        var answer = Text(json, "answer");
        if (answerIdx is null && answer is null) { error = "neither \"answer_idx\" nor \"answer\" is given"; return null; }
        if (answerIdx is not null && options.All(o => o.Key != answerIdx))
        {
            error = $"\"answer_idx\" '{answerIdx}' is not one of the options ({string.Join(", ", options.Select(o => o.Key))})";
            return null;
        }
        answerIdx ??= options.FirstOrDefault(o => string.Equals(o.Value.Trim(), answer!.Trim(), StringComparison.OrdinalIgnoreCase)).Key;
        if (answerIdx is null) { error = $"\"answer\" '{answer}' matches no option and \"answer_idx\" is missing"; return null; }
        answer ??= options.First(o => o.Key == answerIdx).Value;
        error = "";
        return new MultipleChoiceQuestion(question, options, answerIdx, answer);
    }

    private static string? Text(JsonObject json, string key) =>
        json[key] is JsonValue value && value.GetValueKind() == JsonValueKind.String && ((string)value!).Trim().Length > 0 ? ((string)value!).Trim() : null;
}
