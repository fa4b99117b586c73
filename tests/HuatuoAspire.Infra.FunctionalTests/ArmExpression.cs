using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Infra.FunctionalTests;

/// <summary>
/// Evaluates the ARM template expressions Bicep emits (<c>[format('{0}', parameters('x'))]</c>) for one set of
/// parameter values, so the tests read a deployment's resources as Azure would create them. What only Azure knows
/// (<c>reference()</c>, <c>listKeys()</c>) stays a placeholder string <c>{runtime:…}</c>; ids are built from a fixed
/// subscription and resource group. An unknown function fails the test rather than guessing.
/// </summary>
public sealed class ArmExpression(JsonObject template, IReadOnlyDictionary<string, JsonNode?> parameters)
{
    public const string ResourceGroupId = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg";
    private const string Runtime = "{runtime:";
    private readonly Dictionary<string, JsonNode?> _variables = new(StringComparer.OrdinalIgnoreCase);

    public static bool IsRuntime(string? text) => text?.Contains(Runtime, StringComparison.Ordinal) == true;

    /// <summary>A copy of <paramref name="node"/> with every expression string replaced by its value.</summary>
    public JsonNode? Evaluate(JsonNode? node) => node switch
    {
        // Property names may be expressions too ('${identity.id}': {}).
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(Evaluate(JsonValue.Create(p.Key))!.GetValue<string>(), Evaluate(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Evaluate).ToArray()),
        JsonValue v when v.TryGetValue<string>(out var s) && s.StartsWith('[') && s.EndsWith(']') =>
            s.StartsWith("[[", StringComparison.Ordinal) ? JsonValue.Create(s[1..]) : Eval(new Parser(s[1..^1]).ParseAll()),
        _ => node?.DeepClone(),
    };

    public JsonNode? Parameter(string name)
    {
        if (parameters.TryGetValue(name, out var given)) return given?.DeepClone();
        var declared = template["parameters"]?[name] ?? throw new KeyNotFoundException($"No parameter '{name}'.");
        if (declared["defaultValue"] is not { } fallback) throw new KeyNotFoundException($"Parameter '{name}' has no value and no default.");
        return Evaluate(fallback);
    }

    private JsonNode? Variable(string name)
    {
        if (_variables.TryGetValue(name, out var value)) return value?.DeepClone();
        value = Evaluate(template["variables"]?[name] ?? throw new KeyNotFoundException($"No variable '{name}'."));
        _variables[name] = value;
        return value?.DeepClone();
    }

    private abstract record Expr;
    private sealed record Literal(JsonNode? Value) : Expr;
    private sealed record Call(string Name, IReadOnlyList<Expr> Args) : Expr;
    private sealed record Member(Expr Target, string Name) : Expr;
    private sealed record Index(Expr Target, Expr Key) : Expr;

    private JsonNode? Eval(Expr e) => e switch
    {
        Literal l => l.Value?.DeepClone(),
        Member m => Property(Eval(m.Target), m.Name),
        Index i => Eval(i.Key) is JsonValue k && k.TryGetValue<string>(out var key) ? Property(Eval(i.Target), key) : Item(Eval(i.Target), Eval(i.Key)),
        Call c => Invoke(c),
        _ => throw new InvalidOperationException(),
    };

    private static JsonNode? Property(JsonNode? target, string name) => target switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) && IsRuntime(s) => JsonValue.Create($"{s.TrimEnd('}')}.{name}}}"),
        JsonObject o => o.TryGetPropertyValue(name, out var value) ? value?.DeepClone() : throw new KeyNotFoundException($"No property '{name}' in {o.ToJsonString()}."),
        _ => throw new InvalidOperationException($"'.{name}' on {target?.ToJsonString() ?? "null"}."),
    };

    private static JsonNode? Item(JsonNode? target, JsonNode? index) => target switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) && IsRuntime(s) => JsonValue.Create($"{s.TrimEnd('}')}[{index}]}}"),
        JsonArray a => a[(int)index!.GetValue<double>()]?.DeepClone(),
        _ => throw new InvalidOperationException($"[{index}] on {target?.ToJsonString() ?? "null"}."),
    };

    private JsonNode? Invoke(Call c)
    {
        // if() evaluates only the branch taken, as ARM does.
        if (c.Name.Equals("if", StringComparison.OrdinalIgnoreCase))
            return Eval(c.Args[0])!.GetValue<bool>() ? Eval(c.Args[1]) : Eval(c.Args[2]);
        var a = c.Args.Select(Eval).ToArray();
        string S(int i) => Text(a[i]);
        return c.Name.ToLowerInvariant() switch
        {
            "parameters" => Parameter(S(0)),
            "variables" => Variable(S(0)),
            "format" => JsonValue.Create(FormatText(S(0), a.Skip(1).Select(Text).ToArray())),
            "concat" => a.All(x => x is JsonArray) ? new JsonArray(a.SelectMany(x => x!.AsArray().Select(y => y?.DeepClone())).ToArray()) : JsonValue.Create(string.Concat(a.Select(Text))),
            "string" => JsonValue.Create(Text(a[0])),
            "json" => JsonNode.Parse(S(0)),
            "createarray" => new JsonArray(a),
            "createobject" => new JsonObject(Enumerable.Range(0, a.Length / 2).Select(i => KeyValuePair.Create(Text(a[2 * i]), a[2 * i + 1]))),
            "flatten" => new JsonArray(a[0]!.AsArray().SelectMany(x => x!.AsArray().Select(y => y?.DeepClone())).ToArray()),
            "shallowmerge" => new JsonObject(a[0]!.AsArray().SelectMany(o => o!.AsObject().Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())))
                .GroupBy(p => p.Key).Select(g => g.Last())),
            "not" => JsonValue.Create(!a[0]!.GetValue<bool>()),
            "and" => JsonValue.Create(a.All(x => x!.GetValue<bool>())),
            "or" => JsonValue.Create(a.Any(x => x!.GetValue<bool>())),
            "equals" => JsonValue.Create(JsonNode.DeepEquals(a[0], a[1])),
            "empty" => JsonValue.Create(a[0] switch { null => true, JsonArray x => x.Count == 0, JsonObject x => x.Count == 0, _ => Text(a[0]).Length == 0 }),
            "last" => a[0] is JsonArray arr ? arr[^1]?.DeepClone() : JsonValue.Create(S(0)[^1..]),
            "split" => new JsonArray(S(0).Split(S(1)).Select(x => (JsonNode?)JsonValue.Create(x)).ToArray()),
            "take" => a[0] is JsonArray t ? new JsonArray(t.Take(Int(a[1])).Select(x => x?.DeepClone()).ToArray()) : JsonValue.Create(S(0)[..Math.Min(S(0).Length, Int(a[1]))]),
            "length" => JsonValue.Create(a[0] is JsonArray l ? l.Count : S(0).Length),
            "tolower" => JsonValue.Create(S(0).ToLowerInvariant()),
            "uniquestring" => JsonValue.Create(Hash(a).ToLowerInvariant()[..13]),
            "guid" => JsonValue.Create(new Guid(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("|", a.Select(Text))))[..16]).ToString()),
            "resourcegroup" => new JsonObject { ["id"] = ResourceGroupId, ["name"] = "rg", ["location"] = "swedencentral" },
            "environment" => new JsonObject { ["name"] = "AzureCloud", ["suffixes"] = new JsonObject { ["storage"] = "core.windows.net" } },
            "resourceid" => JsonValue.Create($"{ResourceGroupId}/providers/{ResourcePath(a.Select(Text).ToArray())}"),
            "subscriptionresourceid" => JsonValue.Create($"/subscriptions/00000000-0000-0000-0000-000000000000/providers/{ResourcePath(a.Select(Text).ToArray())}"),
            "extensionresourceid" => JsonValue.Create($"{S(0)}/providers/{ResourcePath(a.Skip(1).Select(Text).ToArray())}"),
            "reference" or "listkeys" => JsonValue.Create($"{Runtime}{c.Name}({S(0)})}}"),
            var name => throw new NotSupportedException($"ARM function {name}() is not evaluated by the tests: add it to {nameof(ArmExpression)}."),
        };
    }

    private static int Int(JsonNode? n) => (int)n!.GetValue<double>();

    private static string Text(JsonNode? n) => n switch
    {
        null => "",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v when v.TryGetValue<bool>(out var b) => b ? "True" : "False",
        JsonValue v => Convert.ToString(v.GetValue<double>(), CultureInfo.InvariantCulture),
        _ => n.ToJsonString(),
    };

    private static string FormatText(string format, string[] args)
    {
        var text = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] == '{' && i + 1 < format.Length && format[i + 1] == '{') { text.Append('{'); i++; }
            else if (format[i] == '}' && i + 1 < format.Length && format[i + 1] == '}') { text.Append('}'); i++; }
            else if (format[i] == '{')
            {
                var end = format.IndexOf('}', i);
                text.Append(args[int.Parse(format[(i + 1)..end].Split(':')[0], CultureInfo.InvariantCulture)]);
                i = end;
            }
            else text.Append(format[i]);
        }
        return text.ToString();
    }

    /// <summary>"Microsoft.X/a/b", "n1", "n2" → "Microsoft.X/a/n1/b/n2".</summary>
    private static string ResourcePath(string[] parts)
    {
        var types = parts[0].Split('/');
        var path = new StringBuilder($"{types[0]}/{types[1]}/{parts[1]}");
        for (var i = 2; i < types.Length; i++) path.Append($"/{types[i]}/{parts[i]}");
        return path.ToString();
    }

    private static string Hash(JsonNode?[] args) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("|", args.Select(Text)))));

    /// <summary>Recursive descent over ARM's expression grammar: calls, 'strings', numbers, .member and [index].</summary>
    private sealed class Parser(string text)
    {
        private int _at;

        public Expr ParseAll()
        {
            var e = ParseExpr();
            Skip();
            if (_at != text.Length) throw new FormatException($"Unexpected '{text[_at..]}' in [{text}].");
            return e;
        }

        private Expr ParseExpr()
        {
            var e = ParsePrimary();
            while (true)
            {
                Skip();
                if (Peek('.')) { _at++; e = new Member(e, Identifier()); }
                else if (Peek('[')) { _at++; var key = ParseExpr(); Expect(']'); e = new Index(e, key); }
                else return e;
            }
        }

        private Expr ParsePrimary()
        {
            Skip();
            if (Peek('\''))
            {
                var s = new StringBuilder();
                _at++;
                while (true)
                {
                    if (text[_at] == '\'')
                    {
                        if (_at + 1 < text.Length && text[_at + 1] == '\'') { s.Append('\''); _at += 2; continue; }
                        _at++;
                        return new Literal(JsonValue.Create(s.ToString()));
                    }
                    s.Append(text[_at++]);
                }
            }
            if (char.IsDigit(text[_at]) || text[_at] == '-')
            {
                var start = _at++;
                while (_at < text.Length && char.IsDigit(text[_at])) _at++;
                return new Literal(JsonValue.Create(double.Parse(text[start.._at], CultureInfo.InvariantCulture)));
            }
            var name = Identifier();
            if (name is "true" or "false" && !Peek('(')) return new Literal(JsonValue.Create(name == "true"));
            Expect('(');
            var args = new List<Expr>();
            Skip();
            if (!Peek(')'))
            {
                do { args.Add(ParseExpr()); Skip(); } while (Peek(',') && _at++ >= 0);
            }
            Expect(')');
            if (name is "true" or "false" && args.Count == 0) return new Literal(JsonValue.Create(name == "true"));
            if (name == "null" && args.Count == 0) return new Literal(null);
            return new Call(name, args);
        }

        private string Identifier()
        {
            Skip();
            var start = _at;
            while (_at < text.Length && (char.IsLetterOrDigit(text[_at]) || text[_at] == '_')) _at++;
            if (start == _at) throw new FormatException($"Expected a name at {_at} in [{text}].");
            return text[start.._at];
        }

        private bool Peek(char c) => _at < text.Length && text[_at] == c;
        private void Skip() { while (_at < text.Length && text[_at] == ' ') _at++; }

        private void Expect(char c)
        {
            Skip();
            if (!Peek(c)) throw new FormatException($"Expected '{c}' at {_at} in [{text}].");
            _at++;
        }
    }
}
