using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Model.StructuredOutput;

/// <summary>
/// Turns a JSON Schema into a <see cref="JsonGrammar"/> for the subset structured output enforces: <c>type</c> (object,
/// array, string, number, integer, boolean, null, or a list of them), <c>properties</c>, <c>required</c>,
/// <c>additionalProperties</c>, <c>items</c>, <c>minItems</c>, <c>maxItems</c>, <c>enum</c>, <c>const</c>, and the
/// annotations (<c>title</c>, <c>description</c>, ...). Properties are written in declaration order and only the declared
/// ones (so the output is valid whatever <c>additionalProperties</c> says). Anything else is refused, all of it named
/// in one message, rather than silently not enforced.
/// </summary>
public static class JsonSchemaCompiler
{
    private static readonly HashSet<string> Annotations =
        ["title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly"];

    private static readonly HashSet<string> Supported =
        ["type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const"];

    /// <summary>At most this many properties per object and values per enum (candidate sets are 64-bit masks).</summary>
    public const int MaxAlternatives = 64;

    private static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    /// <exception cref="UnsupportedJsonSchemaException">The schema uses keywords or shapes outside the subset.</exception>
    public static JsonGrammar Compile(JsonElement schema)
    {
        var nodes = JsonGrammar.BaseNodes();
        var problems = new List<string>();
        var root = Compile(schema, "#", nodes, problems);
        if (problems.Count > 0)
        {
            throw new UnsupportedJsonSchemaException(
                $"The JSON schema uses what structured output does not support: {string.Join("; ", problems)}. " +
                $"Supported: {string.Join(", ", Supported)} (types object, array, string, number, integer, boolean, null), and annotations.");
        }
        return new JsonGrammar(nodes, root, "json_schema:" + JsonNode.Parse(schema.GetRawText())!.ToJsonString());
    }

    private static int Compile(JsonElement schema, string at, List<GrammarNode> nodes, List<string> problems)
    {
        if (schema.ValueKind == JsonValueKind.True) return JsonGrammar.Any;
        if (schema.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"{at} is {schema.ValueKind.ToString().ToLowerInvariant()}, not a schema object");
            return JsonGrammar.Any;
        }
        foreach (var property in schema.EnumerateObject())
        {
            if (!Supported.Contains(property.Name) && !Annotations.Contains(property.Name))
                problems.Add($"'{property.Name}' at {at}");
        }

        if (schema.TryGetProperty("const", out var constant)) return Add(nodes, new LiteralNode([Literal(constant)]));
        if (schema.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0)
            {
                problems.Add($"'enum' at {at} is not a non-empty array");
                return JsonGrammar.Any;
            }
            var literals = values.EnumerateArray().Select(Literal).DistinctBy(Convert.ToHexString).ToList();
            if (literals.Count > MaxAlternatives) problems.Add($"'enum' at {at} has {literals.Count} values (at most {MaxAlternatives})");
            return Add(nodes, new LiteralNode(literals));
        }

        var types = Types(schema, at, problems);
        if (types.Count == 0) return schema.TryGetProperty("properties", out _) ? Object(schema, at, nodes, problems) : JsonGrammar.Any;
        if (types.Contains("integer") && types.Contains("number")) types.Remove("integer");
        var alternatives = types.Select(type => type switch
        {
            "object" => Object(schema, at, nodes, problems),
            "array" => Array(schema, at, nodes, problems),
            "string" => JsonGrammar.AnyString,
            "number" => JsonGrammar.AnyNumber,
            "integer" => Add(nodes, new NumberNode(Integer: true)),
            "boolean" => Add(nodes, new LiteralNode(["true"u8.ToArray(), "false"u8.ToArray()])),
            "null" => JsonGrammar.Null,
            _ => JsonGrammar.Any,
        }).ToList();
        return alternatives.Count == 1 ? alternatives[0] : Add(nodes, new ChoiceNode(alternatives));
    }

    private static List<string> Types(JsonElement schema, string at, List<string> problems)
    {
        if (!schema.TryGetProperty("type", out var type)) return [];
        var names = type.ValueKind switch
        {
            JsonValueKind.String => [type.GetString()!],
            JsonValueKind.Array when type.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String) => type.EnumerateArray().Select(t => t.GetString()!).Distinct().ToList(),
            _ => null,
        };
        if (names is null || names.Count == 0)
        {
            problems.Add($"'type' at {at} is neither a type name nor a list of them");
            return [];
        }
        foreach (var name in names.Where(n => n is not ("object" or "array" or "string" or "number" or "integer" or "boolean" or "null")))
            problems.Add($"type '{name}' at {at}");
        return names;
    }

    private static int Object(JsonElement schema, string at, List<GrammarNode> nodes, List<string> problems)
    {
        var additionalFalse = schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind == JsonValueKind.False;
        if (!schema.TryGetProperty("properties", out var properties) || properties.ValueKind != JsonValueKind.Object)
        {
            // No declared properties: any object, or only {} when no others are allowed.
            return additionalFalse ? Add(nodes, new ObjectNode([], AnyKeys: false)) : JsonGrammar.AnyObject;
        }
        var required = new HashSet<string>();
        if (schema.TryGetProperty("required", out var names))
        {
            if (names.ValueKind != JsonValueKind.Array || names.EnumerateArray().Any(n => n.ValueKind != JsonValueKind.String))
                problems.Add($"'required' at {at} is not a list of names");
            else required.UnionWith(names.EnumerateArray().Select(n => n.GetString()!));
        }
        var rules = new List<PropertyRule>();
        foreach (var property in properties.EnumerateObject())
        {
            var value = Compile(property.Value, $"{at}/properties/{property.Name}", nodes, problems);
            rules.Add(new PropertyRule(Literal(property.Name), value, required.Contains(property.Name)));
        }
        foreach (var missing in required.Where(r => !properties.TryGetProperty(r, out _)))
            problems.Add($"'required' at {at} names '{missing}', which is not in its properties");
        if (rules.Count > MaxAlternatives) problems.Add($"{at} has {rules.Count} properties (at most {MaxAlternatives})");
        return Add(nodes, new ObjectNode(rules, AnyKeys: false));
    }

    private static int Array(JsonElement schema, string at, List<GrammarNode> nodes, List<string> problems)
    {
        var items = schema.TryGetProperty("items", out var itemSchema) ? Compile(itemSchema, at + "/items", nodes, problems) : JsonGrammar.Any;
        var min = Count(schema, "minItems", at, problems) ?? 0;
        var max = Count(schema, "maxItems", at, problems) ?? -1;
        if (max >= 0 && max < min) problems.Add($"maxItems {max} is below minItems {min} at {at}");
        return Add(nodes, new ArrayNode(items, min, max));
    }

    private static int? Count(JsonElement schema, string name, string at, List<string> problems)
    {
        if (!schema.TryGetProperty(name, out var value)) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) && n is >= 0 and <= 1024) return n;
        problems.Add($"'{name}' at {at} must be an integer from 0 to 1024");
        return null;
    }

    private static int Add(List<GrammarNode> nodes, GrammarNode node)
    {
        nodes.Add(node);
        return nodes.Count - 1;
    }

    private static byte[] Literal(JsonElement value)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, Compact)) value.WriteTo(writer);
        return buffer.ToArray();
    }

    private static byte[] Literal(string name)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, Compact)) writer.WriteStringValue(name);
        return buffer.ToArray();
    }
}
