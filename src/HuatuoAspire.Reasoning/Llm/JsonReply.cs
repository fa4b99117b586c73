using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Reasoning.Llm;

/// <summary>
/// Extracts the JSON object an LLM meant to write: tolerates code fences, prose before and after, trailing commas,
/// comments and raw line breaks inside strings (the usual ways models break JSON).
/// </summary>
public static class JsonReply
{
    private static readonly JsonDocumentOptions Lenient = new()
    {
        AllowTrailingCommas = true,
        CommentHandling = JsonCommentHandling.Skip,
    };

    public static bool TryParseObject(string? text, out JsonObject value, out string error)
    {
        value = new JsonObject();
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "the reply is empty";
            return false;
        }
        var candidates = Candidates(text).ToList();
        if (candidates.Count == 0)
        {
            error = "the reply contains no JSON object ('{' ... '}')";
            return false;
        }
        error = "";
        foreach (var candidate in candidates)
        {
            try
            {
                if (JsonNode.Parse(EscapeControlCharactersInStrings(candidate), documentOptions: Lenient) is JsonObject parsed)
                {
                    value = parsed;
                    return true;
                }
                error = "the JSON is not an object";
            }
            catch (JsonException exception)
            {
                error = $"invalid JSON: {exception.Message}";
            }
        }
        return false;
    }

    /// <summary>Balanced {...} spans, longest (outermost) first; fenced blocks before bare text.</summary>
    private static IEnumerable<string> Candidates(string text)
    {
        var fenceStart = text.IndexOf("```", StringComparison.Ordinal);
        if (fenceStart >= 0)
        {
            var bodyStart = text.IndexOf('\n', fenceStart);
            var fenceEnd = bodyStart < 0 ? -1 : text.IndexOf("```", bodyStart, StringComparison.Ordinal);
            if (fenceEnd > bodyStart)
            {
                foreach (var span in BalancedObjects(text[(bodyStart + 1)..fenceEnd])) yield return span;
            }
        }
        foreach (var span in BalancedObjects(text)) yield return span;
        // A reply cut off or with unbalanced braces: fall back to the first '{' to the last '}'.
        var first = text.IndexOf('{');
        var last = text.LastIndexOf('}');
        if (first >= 0 && last > first) yield return text[first..(last + 1)];
    }

    private static IEnumerable<string> BalancedObjects(string text)
    {
        var start = -1;
        var depth = 0;
        var inString = false;
        var escaped = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (escaped) escaped = false;
                else if (c == '\\') escaped = true;
                else if (c == '"') inString = false;
                continue;
            }
            switch (c)
            {
                case '"' when depth > 0:
                    inString = true;
                    break;
                case '{':
                    if (depth++ == 0) start = i;
                    break;
                case '}' when depth > 0:
                    if (--depth == 0) yield return text[start..(i + 1)];
                    break;
            }
        }
    }

    private static string EscapeControlCharactersInStrings(string json)
    {
        var builder = new StringBuilder(json.Length + 16);
        var inString = false;
        var escaped = false;
        foreach (var c in json)
        {
            if (inString)
            {
                if (escaped) escaped = false;
                else if (c == '\\') escaped = true;
                else if (c == '"') inString = false;
                else if (c == '\n') { builder.Append("\\n"); continue; }
                else if (c == '\r') { builder.Append("\\r"); continue; }
                else if (c == '\t') { builder.Append("\\t"); continue; }
                else if (c < ' ') { builder.Append($"\\u{(int)c:x4}"); continue; }
            }
            else if (c == '"') inString = true;
            builder.Append(c);
        }
        return builder.ToString();
    }
}
