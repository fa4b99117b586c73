using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace HuatuoAspire.Domain.Search;

/// <summary>One step of a JSON chain of thought: "Inner Thinking" (with a title), "Final Conclusion" or "Verification".</summary>
public sealed record CotStep(
    [property: JsonPropertyName("action")] string Action,
    [property: JsonPropertyName("title")] string? Title,
    [property: JsonPropertyName("content")] string Content)
{
    public const string InnerThinking = "Inner Thinking";
    public const string FinalConclusion = "Final Conclusion";
    public const string Verification = "Verification";

    /// <summary>
    /// Reads {"CoT": [...]} and checks its shape: Inner Thinking steps, then Final Conclusion, then Verification last;
    /// a refinement must also begin with a Verification step.
    /// </summary>
    public static List<CotStep>? Parse(JsonObject json, bool isRefinement, out string error)
    {
        if (json["CoT"] is not JsonArray array) { error = "the JSON has no \"CoT\" array"; return null; }
        var steps = new List<CotStep>();
        for (var i = 0; i < array.Count; i++)
        {
            if (array[i] is not JsonObject item) { error = $"CoT[{i}] is not an object"; return null; }
            var action = NormaliseAction(item["action"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? (string?)item["action"] : null);
            if (action is null) { error = $"CoT[{i}].action must be \"Inner Thinking\", \"Final Conclusion\" or \"Verification\""; return null; }
            var content = item["content"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? (string?)item["content"] : null;
            if (string.IsNullOrWhiteSpace(content)) { error = $"CoT[{i}].content is missing or empty"; return null; }
            var title = item["title"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? (string?)item["title"] : null;
            steps.Add(new CotStep(action, string.IsNullOrWhiteSpace(title) ? null : title.Trim(), content.Trim()));
        }
        if (steps.Count < 3) { error = $"CoT has {steps.Count} steps; at least Inner Thinking, Final Conclusion and Verification are needed"; return null; }
        if (steps[^1].Action != Verification) { error = "the last step must be \"Verification\""; return null; }
        if (steps[^2].Action != FinalConclusion) { error = "the second-to-last step must be \"Final Conclusion\""; return null; }
        if (steps[^3].Action != InnerThinking) { error = "an \"Inner Thinking\" step must come before the \"Final Conclusion\""; return null; }
        if (isRefinement && steps[0].Action != Verification) { error = "a continuation must start with a \"Verification\" step"; return null; }
        error = "";
        return steps;
    }

    private static string? NormaliseAction(string? action) => action?.Trim().ToLowerInvariant() switch
    {
        "inner thinking" => InnerThinking,
        "final conclusion" => FinalConclusion,
        "verification" => Verification,
        _ => null,
    };
}
