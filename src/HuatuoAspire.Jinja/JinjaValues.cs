using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HuatuoAspire.Jinja;

/// <summary>A name or member that does not exist: renders as "", is falsy, iterates as empty, fails when used further.</summary>
public sealed class JinjaUndefined
{
    internal JinjaUndefined(string description) => Description = description;

    internal string Description { get; }

    public override string ToString() => "";
}

/// <summary>The object <c>namespace(...)</c> makes: the only thing a template may assign attributes on inside loops.</summary>
public sealed class JinjaNamespace
{
    internal OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>A Python tuple: a list that prints as <c>(a, b)</c>; <c>items</c> and tuple literals make them.</summary>
public sealed class JinjaTuple : List<object?>
{
    public JinjaTuple(IEnumerable<object?> items) : base(items) { }
}

/// <summary>A function a template can call: positional arguments and keyword arguments, already evaluated.</summary>
public delegate object? JinjaFunction(IReadOnlyList<object?> arguments, IReadOnlyDictionary<string, object?> keywords);

/// <summary>
/// The value model of templates and Python's rules over it: none (null), bool, long, double, string,
/// <c>List&lt;object?&gt;</c>, <c>OrderedDictionary&lt;string, object?&gt;</c>, <see cref="JinjaNamespace"/>,
/// <see cref="JinjaUndefined"/> and <see cref="JinjaFunction"/>. Strings are indexed by code point like Python's.
/// </summary>
public static class JinjaValues
{
    /// <summary>Turns .NET data (JSON nodes, dictionaries, lists, numbers, strings, records of those) into template values.</summary>
    public static object? FromDotNet(object? value) => value switch
    {
        null => null,
        JinjaUndefined or JinjaNamespace or JinjaFunction or string or bool or long or double => value,
        int or short or byte or sbyte or ushort or uint => Convert.ToInt64(value, CultureInfo.InvariantCulture),
        ulong u => (long)u,
        float or decimal => Convert.ToDouble(value, CultureInfo.InvariantCulture),
        char c => c.ToString(),
        JsonNode node => FromJson(node),
        JsonElement element => FromJson(JsonSerializer.SerializeToNode(element)),
        OrderedDictionary<string, object?> ordered => ordered,
        IDictionary dictionary => ToOrdered(dictionary),
        IEnumerable sequence => sequence.Cast<object?>().Select(FromDotNet).ToList(),
        _ => FromJson(JsonSerializer.SerializeToNode(value, value.GetType())),
    };

    private static OrderedDictionary<string, object?> ToOrdered(IDictionary dictionary)
    {
        var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in dictionary) result[ToStr(FromDotNet(entry.Key))] = FromDotNet(entry.Value);
        return result;
    }

    private static object? FromJson(JsonNode? node)
    {
        switch (node)
        {
            case null: return null;
            case JsonObject obj:
                var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, child) in obj) result[key] = FromJson(child);
                return result;
            case JsonArray array: return array.Select(FromJson).ToList();
            default:
                return node.GetValueKind() switch
                {
                    JsonValueKind.String => node.GetValue<string>(),
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    JsonValueKind.Null => null,
                    // The JSON text decides int or float, as Python's json.loads does.
                    JsonValueKind.Number => node.ToJsonString() is var n && long.TryParse(n, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)
                        ? (object)l : double.Parse(n, NumberStyles.Float, CultureInfo.InvariantCulture),
                    _ => throw new ArgumentException($"Unsupported JSON value {node.ToJsonString()}"),
                };
        }
    }

    public static bool Truthy(object? value) => value switch
    {
        null or JinjaUndefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        OrderedDictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    /// <summary>Python's <c>str()</c>.</summary>
    public static string ToStr(object? value) => value switch
    {
        null => "None",
        JinjaUndefined => "",
        string s => s,
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FloatRepr(d),
        _ => Repr(value),
    };

    /// <summary>Python's <c>repr()</c>, used when lists and dicts are printed.</summary>
    public static string Repr(object? value)
    {
        switch (value)
        {
            case string s:
                var quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
                var builder = new StringBuilder().Append(quote);
                foreach (var c in s)
                {
                    builder.Append(c switch
                    {
                        '\\' => "\\\\",
                        '\n' => "\\n",
                        '\r' => "\\r",
                        '\t' => "\\t",
                        _ when c == quote => "\\" + c,
                        _ when c < ' ' || c == '\x7f' => $"\\x{(int)c:x2}",
                        _ => c.ToString(),
                    });
                }
                return builder.Append(quote).ToString();
            case JinjaTuple tuple:
                return tuple.Count == 1 ? "(" + Repr(tuple[0]) + ",)" : "(" + string.Join(", ", tuple.Select(Repr)) + ")";
            case List<object?> list:
                return "[" + string.Join(", ", list.Select(Repr)) + "]";
            case OrderedDictionary<string, object?> dict:
                return "{" + string.Join(", ", dict.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}";
            case JinjaNamespace ns:
                return "<Namespace " + Repr(new OrderedDictionary<string, object?>(ns.Attributes)) + ">";
            case JinjaFunction:
                return "<function>";
            default:
                return ToStr(value);
        }
    }

    /// <summary>Python's float repr: shortest round-trip digits, positional for exponents -4..15, else 1e-05 / 1e+16.</summary>
    public static string FloatRepr(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsInfinity(value)) return value > 0 ? "inf" : "-inf";
        if (value == 0) return double.IsNegative(value) ? "-0.0" : "0.0";
        var shortest = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        var exponent = int.Parse(Math.Abs(value).ToString("E16", CultureInfo.InvariantCulture).Split('E')[1], CultureInfo.InvariantCulture);
        var sign = value < 0 ? "-" : "";
        if (exponent is >= -4 and < 16)
        {
            var plain = decimal.Parse(shortest, NumberStyles.Float, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture);
            return sign + (plain.Contains('.') ? plain : plain + ".0");
        }
        var mantissaText = shortest.Split('E')[0];
        var digits = mantissaText.Replace(".", "").TrimStart('0').TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        var mantissa = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
        return $"{sign}{mantissa}e{(exponent < 0 ? '-' : '+')}{Math.Abs(exponent):00}";
    }

    internal static bool IsNumber(object? value) => value is long or double or bool;

    internal static double ToDouble(object? value) => value switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new InvalidOperationException($"{TypeName(value)} is not a number"),
    };

    internal static long ToLong(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => throw new InvalidOperationException($"{TypeName(value)} is not an integer"),
    };

    public static new bool Equals(object? a, object? b)
    {
        if (a is JinjaUndefined || b is JinjaUndefined) return a is JinjaUndefined && b is JinjaUndefined;
        if (IsNumber(a) && IsNumber(b))
            return a is double || b is double ? ToDouble(a) == ToDouble(b) : ToLong(a) == ToLong(b);
        return (a, b) switch
        {
            (null, null) => true,
            (string x, string y) => x == y,
            (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Equals(p.First, p.Second)),
            (OrderedDictionary<string, object?> x, OrderedDictionary<string, object?> y) =>
                x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var v) && Equals(kv.Value, v)),
            _ => ReferenceEquals(a, b),
        };
    }

    internal static int Compare(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a).CompareTo(ToDouble(b));
        if (a is string x && b is string y) return string.CompareOrdinal(x, y) switch { < 0 => -1, > 0 => 1, _ => 0 };
        if (a is List<object?> l && b is List<object?> m)
        {
            for (var i = 0; i < Math.Min(l.Count, m.Count); i++)
            {
                if (Equals(l[i], m[i])) continue;
                return Compare(l[i], m[i]);
            }
            return l.Count.CompareTo(m.Count);
        }
        throw new InvalidOperationException($"'<' not supported between {TypeName(a)} and {TypeName(b)}");
    }

    internal static string TypeName(object? value) => value switch
    {
        null => "none",
        JinjaUndefined u => $"undefined ({u.Description})",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        OrderedDictionary<string, object?> => "dict",
        JinjaNamespace => "namespace",
        JinjaFunction => "function",
        _ => value.GetType().Name,
    };

    /// <summary>Python's <c>iter()</c>: lists, dict keys, string characters (code points); undefined is empty.</summary>
    internal static IEnumerable<object?> Iterate(object? value) => value switch
    {
        JinjaUndefined => [],
        List<object?> list => list,
        OrderedDictionary<string, object?> dict => dict.Keys.Cast<object?>(),
        string s => CodePoints(s).Select(object? (c) => c),
        _ => throw new InvalidOperationException($"{TypeName(value)} is not iterable"),
    };

    internal static long Length(object? value) => value switch
    {
        string s => CodePointCount(s),
        List<object?> list => list.Count,
        OrderedDictionary<string, object?> dict => dict.Count,
        JinjaUndefined => 0,
        _ => throw new InvalidOperationException($"object of type {TypeName(value)} has no length"),
    };

    internal static List<string> CodePoints(string s)
    {
        var result = new List<string>(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { result.Add(s.Substring(i, 2)); i++; }
            else result.Add(s[i].ToString());
        }
        return result;
    }

    private static int CodePointCount(string s)
    {
        var count = s.Length;
        for (var i = 0; i + 1 < s.Length; i++)
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1])) { count--; i++; }
        return count;
    }

    /// <summary>Python's <c>json.dumps(value, ensure_ascii=False, indent, separators, sort_keys)</c>, as transformers' tojson calls it.</summary>
    public static string ToJson(object? value, string? indent = null, (string Item, string Key)? separators = null, bool sortKeys = false)
    {
        var (itemSeparator, keySeparator) = separators ?? (indent is null ? (", ", ": ") : (",", ": "));
        var builder = new StringBuilder();
        WriteJson(builder, value, indent, itemSeparator, keySeparator, sortKeys, 0);
        return builder.ToString();
    }

    private static void WriteJson(StringBuilder builder, object? value, string? indent, string itemSeparator, string keySeparator, bool sortKeys, int depth)
    {
        switch (value)
        {
            case null or JinjaUndefined: builder.Append("null"); return;
            case bool b: builder.Append(b ? "true" : "false"); return;
            case long l: builder.Append(l.ToString(CultureInfo.InvariantCulture)); return;
            case double d:
                builder.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : FloatRepr(d));
                return;
            case string s: WriteJsonString(builder, s); return;
            case List<object?> list:
                WriteJsonContainer(builder, '[', ']', list, (b, item) => WriteJson(b, item, indent, itemSeparator, keySeparator, sortKeys, depth + 1), indent, itemSeparator, depth);
                return;
            case OrderedDictionary<string, object?> dict:
                IEnumerable<KeyValuePair<string, object?>> entries = sortKeys ? dict.OrderBy(kv => kv.Key, StringComparer.Ordinal) : dict;
                WriteJsonContainer(builder, '{', '}', entries.ToList(), (b, kv) =>
                {
                    WriteJsonString(b, kv.Key);
                    b.Append(keySeparator);
                    WriteJson(b, kv.Value, indent, itemSeparator, keySeparator, sortKeys, depth + 1);
                }, indent, itemSeparator, depth);
                return;
            default:
                throw new InvalidOperationException($"Object of type {TypeName(value)} is not JSON serializable");
        }
    }

    private static void WriteJsonContainer<T>(StringBuilder builder, char open, char close, IReadOnlyList<T> items,
        Action<StringBuilder, T> writeItem, string? indent, string itemSeparator, int depth)
    {
        builder.Append(open);
        if (items.Count == 0) { builder.Append(close); return; }
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0) builder.Append(itemSeparator);
            if (indent is not null) builder.Append('\n').Append(string.Concat(Enumerable.Repeat(indent, depth + 1)));
            writeItem(builder, items[i]);
        }
        if (indent is not null) builder.Append('\n').Append(string.Concat(Enumerable.Repeat(indent, depth)));
        builder.Append(close);
    }

    private static void WriteJsonString(StringBuilder builder, string s)
    {
        builder.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case '\b': builder.Append("\\b"); break;
                case '\f': builder.Append("\\f"); break;
                default:
                    if (c < ' ') builder.Append($"\\u{(int)c:x4}");
                    else builder.Append(c);
                    break;
            }
        }
        builder.Append('"');
    }
}
