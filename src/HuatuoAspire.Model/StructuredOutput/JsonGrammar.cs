namespace HuatuoAspire.Model.StructuredOutput;

/// <summary>One kind of JSON value a position in the output may hold.</summary>
internal abstract record GrammarNode;

/// <summary>Any JSON value (the values of a <c>json_object</c> reply, or a schema that says nothing).</summary>
internal sealed record AnyValueNode : GrammarNode;

/// <summary>
/// An object. With <see cref="AnyKeys"/> any keys and values; otherwise the declared properties in declaration order,
/// each written at most once, the required ones always (fixed order, as llama.cpp's and xgrammar's schema grammars).
/// </summary>
internal sealed record ObjectNode(IReadOnlyList<PropertyRule> Properties, bool AnyKeys) : GrammarNode;

/// <summary><paramref name="KeyLiteral"/> is the key as written in JSON, quotes included (UTF-8).</summary>
internal sealed record PropertyRule(byte[] KeyLiteral, int Value, bool Required);

/// <summary>An array of <paramref name="Items"/>; <paramref name="MaxItems"/> -1 = unbounded.</summary>
internal sealed record ArrayNode(int Items, int MinItems, int MaxItems) : GrammarNode;

internal sealed record StringNode : GrammarNode;

internal sealed record NumberNode(bool Integer) : GrammarNode;

/// <summary>One of a fixed set of JSON texts (compact): enum, const, booleans, null.</summary>
internal sealed record LiteralNode(IReadOnlyList<byte[]> Literals) : GrammarNode;

/// <summary>One of several kinds told apart by their first byte ("type": ["string", "null"]).</summary>
internal sealed record ChoiceNode(IReadOnlyList<int> Alternatives) : GrammarNode;

/// <summary>
/// A JSON grammar as a table of nodes (ids are indexes, so automaton states stay small values). Built by
/// <see cref="JsonSchemaCompiler"/>; <see cref="Key"/> names it in caches (the canonical schema text).
/// </summary>
public sealed class JsonGrammar
{
    internal JsonGrammar(IReadOnlyList<GrammarNode> nodes, int root, string key)
    {
        Nodes = nodes;
        Root = root;
        Key = key;
    }

    internal IReadOnlyList<GrammarNode> Nodes { get; }
    internal int Root { get; }

    /// <summary>What identifies this grammar: <c>json_object</c>, or <c>json_schema:</c> and the schema's compact text.</summary>
    public string Key { get; }

    /// <summary>Node ids every grammar has: the pieces of "any JSON value".</summary>
    internal const int Any = 0, AnyObject = 1, AnyArray = 2, AnyString = 3, AnyNumber = 4, True = 5, False = 6, Null = 7;

    internal static List<GrammarNode> BaseNodes() =>
    [
        new AnyValueNode(),
        new ObjectNode([], AnyKeys: true),
        new ArrayNode(Any, 0, -1),
        new StringNode(),
        new NumberNode(Integer: false),
        new LiteralNode(["true"u8.ToArray()]),
        new LiteralNode(["false"u8.ToArray()]),
        new LiteralNode(["null"u8.ToArray()]),
    ];

    /// <summary>Any JSON object: OpenAI's <c>response_format</c> <c>{"type": "json_object"}</c>.</summary>
    public static JsonGrammar AnyObjectGrammar { get; } = new(BaseNodes(), AnyObject, "json_object");
}
