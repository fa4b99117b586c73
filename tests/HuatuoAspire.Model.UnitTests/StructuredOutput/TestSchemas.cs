using System.Text.Json;
using Json.Schema;

namespace HuatuoAspire.Model.UnitTests.StructuredOutput;

/// <summary>The schemas the structured-output tests generate for, and an independent validator (JsonSchema.Net).</summary>
public static class TestSchemas
{
    /// <summary>The search's chain-of-thought schema, as the pipeline sends it.</summary>
    public const string ChainOfThought = """
        {"type":"object","properties":{"CoT":{"type":"array","items":{"type":"object","properties":{
          "action":{"type":"string","enum":["Inner Thinking","Final Conclusion","Verification"]},
          "title":{"type":"string"},"content":{"type":"string"}},
          "required":["action","title","content"],"additionalProperties":false}}},
         "required":["CoT"],"additionalProperties":false}
        """;

    /// <summary>Every kind of the supported subset: numbers, integers, booleans, enums of mixed types, bounded arrays, optional properties, type lists.</summary>
    public const string EveryKind = """
        {"type":"object","properties":{
          "name":{"type":"string","description":"who"},
          "age":{"type":"integer"},
          "score":{"type":"number"},
          "ok":{"type":"boolean"},
          "grade":{"enum":["A","B é",3,null,{"x":[1]}]},
          "tags":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":3},
          "note":{"type":["string","null"]},
          "matrix":{"type":"array","items":{"type":"array","items":{"type":"number"},"maxItems":2}},
          "fixed":{"const":"v1"}
        },"required":["name","age","score","ok","grade","tags","fixed"],"additionalProperties":false}
        """;

    /// <summary>Only enums, booleans and integers: every reply is short, whatever top_p leaves of the distribution.</summary>
    public const string Verdict = """
        {"type":"object","properties":{
          "verdict":{"type":"string","enum":["Pass","Too Simple","Ambiguous Answer","Not Reformulatable"]},
          "sure":{"type":"boolean"},"votes":{"type":"integer"}},
         "required":["verdict","sure","votes"],"additionalProperties":false}
        """;

    /// <summary>Null when <paramref name="json"/> is valid against <paramref name="schema"/>; otherwise what is wrong.</summary>
    public static string? Problem(string schema, string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            return $"not JSON ({e.Message}): {json}";
        }
        using (document)
        {
            var compiled = JsonSchema.FromText(schema, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
            var result = compiled.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            if (result.IsValid) return null;
            var errors = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"));
            return $"invalid ({string.Join("; ", errors)}): {json}";
        }
    }
}
