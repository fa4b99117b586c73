using System.Text.Json.Nodes;

namespace HuatuoAspire.Jinja.UnitTests;

/// <summary>
/// Language features one snippet each (operators, filters, tests, loops, whitespace control, errors) against
/// Python's Jinja2 as transformers configures it; the expected outputs were rendered by
/// tests/HuatuoAspire.Model.UnitTests/Tokenization/jinja_reference.py.
/// </summary>
public sealed class JinjaSnippetTests
{
    /// <summary>2025-03-15 09:05:07 in a UTC local zone: the clock jinja_reference.py gives strftime_now.</summary>
    private sealed class FixedClock : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(2025, 3, 15, 9, 5, 7, TimeSpan.Zero);

        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    }

    private static readonly JsonArray Snippets =
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "jinja_snippets.json")))!.AsArray();

    public static TheoryData<int> SnippetIndexes => new(Enumerable.Range(0, Snippets.Count));

    [Theory]
    [MemberData(nameof(SnippetIndexes))]
    public void SnippetRendersAsJinja2Does(int index)
    {
        var snippet = Snippets[index]!;
        var source = (string)snippet["source"]!;
        var variables = snippet["context"]!.AsObject().ToDictionary(kv => kv.Key, kv => (object?)kv.Value?.DeepClone());
        if (snippet["error"] is { } error)
        {
            var failure = Record.Exception(() => new JinjaTemplate(source).Render(variables, new FixedClock()));
            Assert.True(failure is JinjaException, $"{source}\nJinja2 failed ({error}); we gave {failure?.GetType().Name ?? "no error"}");
            return;
        }
        Assert.Equal((string)snippet["text"]!, new JinjaTemplate(source).Render(variables, new FixedClock()));
    }

    [Fact]
    public void SyntaxErrorsNameTheLine()
    {
        var error = Assert.Throws<JinjaException>(() => new JinjaTemplate("line one\n{% if x %}\n{{ 1 + }}\n{% endif %}"));
        Assert.Contains("line 3", error.Message);
        error = Assert.Throws<JinjaException>(() => new JinjaTemplate("{% for x in xs %}\n{{ x }}"));
        Assert.Contains("endfor", error.Message);
    }

    [Fact]
    public void RuntimeErrorsNameTheLineAndTheValue()
    {
        var error = Assert.Throws<JinjaException>(() => new JinjaTemplate("a\n\n{{ message.content }}").Render(new Dictionary<string, object?>()));
        Assert.Contains("line 3", error.Message);
        Assert.Contains("'message' is undefined", error.Message);
    }

    [Fact]
    public void RaiseExceptionCarriesTheTemplatesMessage()
    {
        var error = Assert.Throws<JinjaException>(() =>
            new JinjaTemplate("{{ raise_exception('Conversation roles must alternate') }}").Render(new Dictionary<string, object?>()));
        Assert.Contains("Conversation roles must alternate", error.Message);
    }

    [Fact]
    public void DotNetValuesBecomeTemplateValues()
    {
        var template = new JinjaTemplate("{{ n + 1 }} {{ f }} {{ items | join(',') }} {{ map.k }} {{ flag }}");
        var output = template.Render(new Dictionary<string, object?>
        {
            ["n"] = 41,
            ["f"] = 0.5f,
            ["items"] = new[] { "a", "b" },
            ["map"] = new Dictionary<string, int> { ["k"] = 7 },
            ["flag"] = false,
        });
        Assert.Equal("42 0.5 a,b 7 False", output);
    }
}
