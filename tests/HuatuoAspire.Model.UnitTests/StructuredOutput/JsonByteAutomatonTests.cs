using System.Text;
using System.Text.Json;
using HuatuoAspire.Model.StructuredOutput;

namespace HuatuoAspire.Model.UnitTests.StructuredOutput;

public sealed class JsonByteAutomatonTests
{
    private static JsonGrammar Schema(string schema) => JsonSchemaCompiler.Compile(JsonDocument.Parse(schema).RootElement);

    // The state after the whole text, or Dead; "accepting" when the text is complete.
    private static (bool Alive, bool Complete) Run(JsonGrammar grammar, string text)
    {
        var automaton = new JsonByteAutomaton(grammar);
        var state = automaton.Walk(automaton.Start, Encoding.UTF8.GetBytes(text));
        return state == JsonByteAutomaton.Dead ? (false, false) : (true, automaton.IsAccepting(state));
    }

    private static (bool Alive, bool Complete) RunBytes(JsonGrammar grammar, byte[] bytes)
    {
        var automaton = new JsonByteAutomaton(grammar);
        var state = automaton.Walk(automaton.Start, bytes);
        return state == JsonByteAutomaton.Dead ? (false, false) : (true, automaton.IsAccepting(state));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData(" {\n  \"a\": 1,\n  \"b\": [true, false, null, -0.5e+10, 0, 12.25E3],\n  \"c\": {\"\": \"\\u00e9\\n\\\"x\\\" é 中文 😀\"}\n}")]
    [InlineData("{\"a\":{\"b\":{\"c\":[[],[{}]]}}}")]
    public void AnyObjectAcceptsValidObjects(string text)
    {
        Assert.Equal((true, true), Run(JsonGrammar.AnyObjectGrammar, text));
        using var _ = JsonDocument.Parse(text); // the cases are valid JSON indeed
    }

    [Theory]
    [InlineData("[]")] // json_object: the top level is an object
    [InlineData("\"text\"")]
    [InlineData("{\"a\":}")]
    [InlineData("{\"a\":1,}")]
    [InlineData("{\"a\" 1}")]
    [InlineData("{'a':1}")]
    [InlineData("{\"a\":01}")]
    [InlineData("{\"a\":1.}")]
    [InlineData("{\"a\":-}")]
    [InlineData("{\"a\":tru}")]
    [InlineData("{\"a\":\"\\ud800\"}")] // a lone surrogate escape
    [InlineData("{\"a\":\"\\x\"}")]
    [InlineData("{\"a\":\"line\nbreak\"}")] // control characters must be escaped
    [InlineData("{} {}")] // nothing after the value
    [InlineData("{\"a\":1234567890123456}")] // more than 15 integer digits
    public void AnyObjectRefusesInvalidText(string text)
    {
        var (alive, complete) = Run(JsonGrammar.AnyObjectGrammar, text);
        Assert.False(alive && complete, $"accepted {text}");
        Assert.False(alive, $"still alive after {text}");
    }

    [Fact]
    public void StringsMustBeValidUtf8()
    {
        byte[] Quoted(params byte[] inner) => [.. "{\"a\":\""u8.ToArray(), .. inner, .. "\"}"u8.ToArray()];
        Assert.Equal((true, true), RunBytes(JsonGrammar.AnyObjectGrammar, Quoted(0xE4, 0xB8, 0xAD)));
        Assert.False(RunBytes(JsonGrammar.AnyObjectGrammar, Quoted(0xE4, 0xB8)).Alive); // cut character
        Assert.False(RunBytes(JsonGrammar.AnyObjectGrammar, Quoted(0xC0, 0x80)).Alive); // overlong
        Assert.False(RunBytes(JsonGrammar.AnyObjectGrammar, Quoted(0xED, 0xA0, 0x80)).Alive); // UTF-8 surrogate
        Assert.False(RunBytes(JsonGrammar.AnyObjectGrammar, Quoted(0xF5, 0x80, 0x80, 0x80)).Alive); // above U+10FFFF
        Assert.False(RunBytes(JsonGrammar.AnyObjectGrammar, Quoted(0x80)).Alive); // a lone continuation byte
    }

    [Fact]
    public void WhitespaceBetweenTokensIsBounded()
    {
        var allowed = "{" + new string(' ', JsonByteAutomaton.MaxWhitespaceRun) + "}";
        Assert.Equal((true, true), Run(JsonGrammar.AnyObjectGrammar, allowed));
        Assert.False(Run(JsonGrammar.AnyObjectGrammar, "{" + new string(' ', JsonByteAutomaton.MaxWhitespaceRun + 1) + "}").Alive);
        // Inside a string spaces are content, not whitespace.
        Assert.Equal((true, true), Run(JsonGrammar.AnyObjectGrammar, "{\"a\":\"" + new string(' ', 100) + "\"}"));
    }

    [Fact]
    public void SchemaObjectsNeedTheirRequiredPropertiesInOrderAndNoOthers()
    {
        var grammar = Schema(TestSchemas.ChainOfThought);
        Assert.Equal((true, true), Run(grammar, """{"CoT": [{"action": "Verification", "title": "t", "content": "c"}]}"""));
        Assert.Equal((true, true), Run(grammar, """{"CoT":[]}"""));
        Assert.Equal((true, false), Run(grammar, """{"CoT": [{"action": "Inner Thinking", "title": "t" """));
        Assert.False(Run(grammar, """{"CoT": [{"action": "Inner Thinking", "title": "t"}""").Alive); // content is required
        Assert.False(Run(grammar, """{"CoT": [{"action": "Thinking" """).Alive); // not in the enum
        Assert.False(Run(grammar, """{"CoT": [{"title": "t" """).Alive); // declaration order
        Assert.False(Run(grammar, """{"CoT": [], "more": 1}""").Alive); // additionalProperties false
        Assert.False(Run(grammar, """{}""").Alive);
    }

    [Fact]
    public void EveryKindOfTheSubsetIsEnforced()
    {
        var grammar = Schema(TestSchemas.EveryKind);
        const string valid = """{"name":"n","age":-3,"score":1.5e2,"ok":false,"grade":{"x":[1]},"tags":["a","b"],"note":null,"matrix":[[1,2],[]],"fixed":"v1"}""";
        Assert.Equal((true, true), Run(grammar, valid));
        Assert.Null(TestSchemas.Problem(TestSchemas.EveryKind, valid));
        // Optional properties may be left out; required ones may not.
        Assert.Equal((true, true), Run(grammar, """{"name":"n","age":0,"score":0,"ok":true,"grade":3,"tags":["a"],"fixed":"v1"}"""));
        Assert.False(Run(grammar, """{"name":"n","age":1.5""").Alive); // an integer has no fraction
        Assert.False(Run(grammar, """{"name":"n","age":1,"score":1,"ok":1""").Alive);
        Assert.False(Run(grammar, """{"name":"n","age":1,"score":1,"ok":true,"grade":"C""").Alive);
        Assert.False(Run(grammar, """{"name":"n","age":1,"score":1,"ok":true,"grade":3,"tags":[]""").Alive); // minItems 1
        Assert.False(Run(grammar, """{"name":"n","age":1,"score":1,"ok":true,"grade":3,"tags":["a","b","c","d"]""").Alive); // maxItems 3
        Assert.False(Run(grammar, """{"name":"n","age":1,"score":1,"ok":true,"grade":3,"tags":["a"],"note":5""").Alive);
        Assert.False(Run(grammar, """{"name":"n","age":1,"score":1,"ok":true,"grade":3,"tags":["a"],"matrix":[[1,2,3]""").Alive);
        Assert.False(Run(grammar, """{"name":"n","age":1,"score":1,"ok":true,"grade":3,"tags":["a"],"fixed":"v2""").Alive);
    }

    [Fact]
    public void ANumberAtTheTopLevelMayEndAnywhereItIsComplete()
    {
        var grammar = Schema("""{"type":"number"}""");
        Assert.Equal((true, true), Run(grammar, "12"));
        Assert.Equal((true, false), Run(grammar, "12."));
        Assert.Equal((true, true), Run(grammar, "12.5e-3"));
        Assert.Equal((true, false), Run(grammar, "-"));
    }

    [Fact]
    public void UnsupportedSchemaKeywordsAreAllNamedWithWhereTheyAre()
    {
        var e = Assert.Throws<UnsupportedJsonSchemaException>(() => Schema("""
            {"type":"object","properties":{"a":{"type":"string","pattern":"^x"},"b":{"$ref":"#/$defs/b"},"c":{"anyOf":[{"type":"string"}]},
             "d":{"type":"integer","minimum":1}},"required":["a","z"],"$defs":{"b":{"type":"string"}}}
            """));
        Assert.Contains("'pattern' at #/properties/a", e.Message);
        Assert.Contains("'$ref' at #/properties/b", e.Message);
        Assert.Contains("'anyOf' at #/properties/c", e.Message);
        Assert.Contains("'minimum' at #/properties/d", e.Message);
        Assert.Contains("'$defs' at #", e.Message);
        Assert.Contains("names 'z', which is not in its properties", e.Message);
        Assert.Contains("Supported: type, properties, required", e.Message);
    }

    [Fact]
    public void TheSameSchemaTextGivesTheSameCacheKey()
    {
        Assert.Equal(Schema("""{ "type": "object",  "properties": {} }""").Key, Schema("""{"type":"object","properties":{}}""").Key);
        Assert.Equal("json_object", JsonGrammar.AnyObjectGrammar.Key);
    }
}
