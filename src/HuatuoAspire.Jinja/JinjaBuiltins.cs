using System.Globalization;
using System.Text;

namespace HuatuoAspire.Jinja;

/// <summary>Operators, attribute/item access, filters, tests, string and dict methods, and globals, with Python's semantics.</summary>
internal static class JinjaBuiltins
{
    private static readonly IReadOnlyDictionary<string, object?> NoKeywords = new Dictionary<string, object?>();

    public static IEnumerable<KeyValuePair<string, JinjaFunction>> Globals(TimeProvider clock)
    {
        yield return new("raise_exception", (args, _) =>
            throw new JinjaException($"chat template raised an exception: {(args.Count > 0 ? JinjaValues.ToStr(args[0]) : "")}"));
        yield return new("strftime_now", (args, _) =>
            PythonStrftime(clock.GetLocalNow().DateTime, args.Count > 0 ? Str(args[0], "strftime_now format") : "%Y-%m-%d"));
        yield return new("namespace", (args, keywords) =>
        {
            var ns = new JinjaNamespace();
            foreach (var arg in args)
                if (arg is OrderedDictionary<string, object?> initial)
                    foreach (var (k, v) in initial) ns.Attributes[k] = v;
            foreach (var (k, v) in keywords) ns.Attributes[k] = v;
            return ns;
        });
        yield return new("dict", (args, keywords) =>
        {
            var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
            if (args.Count > 0 && args[0] is OrderedDictionary<string, object?> initial)
                foreach (var (k, v) in initial) dict[k] = v;
            foreach (var (k, v) in keywords) dict[k] = v;
            return dict;
        });
        yield return new("range", (args, _) =>
        {
            var (start, stop, step) = args.Count switch
            {
                1 => (0L, JinjaValues.ToLong(args[0]), 1L),
                2 => (JinjaValues.ToLong(args[0]), JinjaValues.ToLong(args[1]), 1L),
                3 => (JinjaValues.ToLong(args[0]), JinjaValues.ToLong(args[1]), JinjaValues.ToLong(args[2])),
                _ => throw new InvalidOperationException("range expects 1 to 3 arguments"),
            };
            if (step == 0) throw new InvalidOperationException("range() step must not be zero");
            var result = new List<object?>();
            for (var i = start; step > 0 ? i < stop : i > stop; i += step) result.Add(i);
            return result;
        });
    }

    public static object? GetAttribute(object? target, string name)
    {
        switch (target)
        {
            case JinjaUndefined undefined:
                throw new InvalidOperationException($"{undefined.Description} is undefined, so it has no attribute '{name}'");
            case JinjaNamespace ns:
                return ns.Attributes.TryGetValue(name, out var attribute) ? attribute : new JinjaUndefined($"namespace attribute '{name}'");
            case OrderedDictionary<string, object?> dict:
                if (dict.TryGetValue(name, out var item)) return item;
                return (object?)DictMethod(dict, name) ?? new JinjaUndefined($"key '{name}'");
            case string s:
                return (object?)StringMethod(s, name) ?? new JinjaUndefined($"str attribute '{name}'");
            case null:
                throw new InvalidOperationException($"none has no attribute '{name}'");
            default:
                return new JinjaUndefined($"{JinjaValues.TypeName(target)} attribute '{name}'");
        }
    }

    /// <summary>Jinja's getitem: a missing key or an index out of range is undefined, not an error.</summary>
    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case JinjaUndefined undefined:
                throw new InvalidOperationException($"{undefined.Description} is undefined, so it cannot be indexed");
            case OrderedDictionary<string, object?> dict:
                var name = key is string k ? k : JinjaValues.ToStr(key);
                return dict.TryGetValue(name, out var value) ? value : new JinjaUndefined($"key '{name}'");
            case List<object?> list when JinjaValues.IsNumber(key) && key is not double:
                var i = JinjaValues.ToLong(key);
                if (i < 0) i += list.Count;
                return i >= 0 && i < list.Count ? list[(int)i] : new JinjaUndefined($"index {key}");
            case string s when JinjaValues.IsNumber(key) && key is not double:
                var chars = JinjaValues.CodePoints(s);
                var c = JinjaValues.ToLong(key);
                if (c < 0) c += chars.Count;
                return c >= 0 && c < chars.Count ? chars[(int)c] : new JinjaUndefined($"index {key}");
            case JinjaNamespace when key is string attribute:
                return GetAttribute(target, attribute);
            case string when key is string method:
                return GetAttribute(target, method);
            case null:
                throw new InvalidOperationException("none cannot be indexed");
            default:
                return new JinjaUndefined($"{JinjaValues.TypeName(target)}[{JinjaValues.Repr(key)}]");
        }
    }

    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        var items = target switch
        {
            List<object?> list => list,
            string s => JinjaValues.CodePoints(s).Cast<object?>().ToList(),
            _ => throw new InvalidOperationException($"{JinjaValues.TypeName(target)} cannot be sliced"),
        };
        var n = items.Count;
        var st = step is null ? 1 : JinjaValues.ToLong(step);
        if (st == 0) throw new InvalidOperationException("slice step cannot be zero");
        long Clamp(object? bound, long fallback)
        {
            if (bound is null) return fallback;
            var v = JinjaValues.ToLong(bound);
            if (v < 0) v += n;
            return st > 0 ? Math.Clamp(v, 0, n) : Math.Clamp(v, -1, n - 1);
        }
        var from = Clamp(start, st > 0 ? 0 : n - 1);
        var to = Clamp(stop, st > 0 ? n : -1);
        var result = new List<object?>();
        for (var i = from; st > 0 ? i < to : i > to; i += st) result.Add(items[(int)i]);
        return target is string ? string.Concat(result.Cast<string>()) : result;
    }

    public static object? Arithmetic(string op, object? left, object? right)
    {
        if (op == "~") return JinjaValues.ToStr(left) + JinjaValues.ToStr(right);
        if (left is JinjaUndefined u1) throw new InvalidOperationException($"{u1.Description} is undefined (left of '{op}')");
        if (right is JinjaUndefined u2) throw new InvalidOperationException($"{u2.Description} is undefined (right of '{op}')");
        switch (op, left, right)
        {
            case ("+", string a, string b): return a + b;
            case ("+", List<object?> a, List<object?> b): return a.Concat(b).ToList();
            case ("*", string a, _) when right is long or bool: return string.Concat(Enumerable.Repeat(a, (int)Math.Max(0, JinjaValues.ToLong(right))));
            case ("*", _, string b) when left is long or bool: return string.Concat(Enumerable.Repeat(b, (int)Math.Max(0, JinjaValues.ToLong(left))));
            case ("%", string format, _): return PercentFormat(format, right);
            case ("*", List<object?> a, _) when right is long or bool: return Enumerable.Repeat(a, (int)Math.Max(0, JinjaValues.ToLong(right))).SelectMany(x => x).ToList();
        }
        if (!JinjaValues.IsNumber(left) || !JinjaValues.IsNumber(right))
            throw new InvalidOperationException($"unsupported operand types for {op}: {JinjaValues.TypeName(left)} and {JinjaValues.TypeName(right)}");
        var floating = left is double || right is double;
        if (op == "/") return JinjaValues.ToDouble(right) == 0 ? throw new DivideByZeroException("division by zero") : JinjaValues.ToDouble(left) / JinjaValues.ToDouble(right);
        if (floating)
        {
            double a = JinjaValues.ToDouble(left), b = JinjaValues.ToDouble(right);
            return op switch
            {
                "+" => a + b,
                "-" => a - b,
                "*" => a * b,
                "//" => b == 0 ? throw new DivideByZeroException("float floor division by zero") : Math.Floor(a / b),
                "%" => b == 0 ? throw new DivideByZeroException("float modulo") : a - b * Math.Floor(a / b),
                "**" => Math.Pow(a, b),
                _ => throw new InvalidOperationException($"unknown operator {op}"),
            };
        }
        long x = JinjaValues.ToLong(left), y = JinjaValues.ToLong(right);
        return op switch
        {
            "+" => checked(x + y),
            "-" => checked(x - y),
            "*" => checked(x * y),
            "//" => y == 0 ? throw new DivideByZeroException("integer division by zero") : FloorDiv(x, y),
            "%" => y == 0 ? throw new DivideByZeroException("integer modulo by zero") : x - y * FloorDiv(x, y),
            "**" => y >= 0 ? (object)checked((long)Math.Pow(x, y)) : Math.Pow(x, y),
            _ => throw new InvalidOperationException($"unknown operator {op}"),
        };
    }

    /// <summary>Python's printf-style <c>format % values</c>: %s %r %d %i %f %e %g %x %o %c and %%, with flags, width, precision and %(key)s.</summary>
    private static string PercentFormat(string format, object? values)
    {
        var positional = values is JinjaTuple tuple ? tuple : new List<object?> { values };
        var mapping = values as OrderedDictionary<string, object?>;
        var next = 0;
        var builder = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%') { builder.Append(format[i]); continue; }
            if (++i >= format.Length) throw new InvalidOperationException("incomplete format");
            object? value;
            if (format[i] == '%') { builder.Append('%'); continue; }
            string? key = null;
            if (format[i] == '(')
            {
                var close = format.IndexOf(')', i);
                if (close < 0) throw new InvalidOperationException("incomplete format key");
                key = format[(i + 1)..close];
                i = close + 1;
            }
            var flags = "";
            while (i < format.Length && "-+ 0#".Contains(format[i])) flags += format[i++];
            var widthStart = i;
            while (i < format.Length && char.IsAsciiDigit(format[i])) i++;
            var width = i > widthStart ? int.Parse(format[widthStart..i], CultureInfo.InvariantCulture) : 0;
            int? precision = null;
            if (i < format.Length && format[i] == '.')
            {
                var precisionStart = ++i;
                while (i < format.Length && char.IsAsciiDigit(format[i])) i++;
                precision = i > precisionStart ? int.Parse(format[precisionStart..i], CultureInfo.InvariantCulture) : 0;
            }
            if (i >= format.Length) throw new InvalidOperationException("incomplete format");
            if (key is not null)
                value = mapping is not null && mapping.TryGetValue(key, out var v) ? v : throw new InvalidOperationException($"format key '{key}' not found");
            else if (next < positional.Count) value = positional[next++];
            else throw new InvalidOperationException("not enough arguments for format string");
            var conversion = format[i];
            var text = conversion switch
            {
                's' => JinjaValues.ToStr(value),
                'r' => JinjaValues.Repr(value),
                'd' or 'i' or 'u' => ((long)Math.Truncate(JinjaValues.ToDouble(value))).ToString(CultureInfo.InvariantCulture),
                'f' or 'F' => JinjaValues.ToDouble(value).ToString("F" + (precision ?? 6), CultureInfo.InvariantCulture),
                'e' or 'E' => PythonExponent(JinjaValues.ToDouble(value), precision ?? 6, conversion),
                'g' or 'G' => JinjaValues.ToDouble(value).ToString("G" + Math.Max(1, precision ?? 6), CultureInfo.InvariantCulture),
                'x' => JinjaValues.ToLong(value).ToString("x", CultureInfo.InvariantCulture),
                'X' => JinjaValues.ToLong(value).ToString("X", CultureInfo.InvariantCulture),
                'o' => Convert.ToString(JinjaValues.ToLong(value), 8),
                'c' => value is string c ? c : char.ConvertFromUtf32((int)JinjaValues.ToLong(value)),
                _ => throw new InvalidOperationException($"unsupported format character '{conversion}'"),
            };
            if (conversion is 's' or 'r' && precision is { } maxLength && text.Length > maxLength) text = text[..maxLength];
            if (conversion is 'd' or 'i' or 'u' or 'f' or 'F' or 'e' or 'E' or 'g' or 'G' && !text.StartsWith('-'))
                text = (flags.Contains('+') ? "+" : flags.Contains(' ') ? " " : "") + text;
            if (text.Length < width)
                text = flags.Contains('-') ? text.PadRight(width)
                    : flags.Contains('0') && conversion is not ('s' or 'r' or 'c') ? ZeroPad(text, width) : text.PadLeft(width);
            builder.Append(text);
        }
        if (values is JinjaTuple && next < positional.Count) throw new InvalidOperationException("not all arguments converted during string formatting");
        return builder.ToString();
    }

    private static string ZeroPad(string text, int width)
    {
        var sign = text.Length > 0 && text[0] is '-' or '+' or ' ' ? text[..1] : "";
        return sign + text[sign.Length..].PadLeft(width - sign.Length, '0');
    }

    private static string PythonExponent(double value, int precision, char conversion)
    {
        var text = value.ToString((conversion == 'E' ? "E" : "e") + precision, CultureInfo.InvariantCulture);
        var e = text.IndexOfAny(['e', 'E']);
        var exponent = int.Parse(text[(e + 1)..], CultureInfo.InvariantCulture);
        return text[..(e + 1)] + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
    }

    private static long FloorDiv(long x, long y)
    {
        var quotient = x / y;
        return x % y != 0 && (x < 0) != (y < 0) ? quotient - 1 : quotient; // Python rounds towards minus infinity
    }

    public static bool Compare(string op, object? left, object? right) => op switch
    {
        "==" => JinjaValues.Equals(left, right),
        "!=" => !JinjaValues.Equals(left, right),
        "<" => JinjaValues.Compare(left, right) < 0,
        ">" => JinjaValues.Compare(left, right) > 0,
        "<=" => JinjaValues.Compare(left, right) <= 0,
        ">=" => JinjaValues.Compare(left, right) >= 0,
        "in" => Contains(right, left),
        "not in" => !Contains(right, left),
        _ => throw new InvalidOperationException($"unknown comparison {op}"),
    };

    private static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string needle ? s.Contains(needle, StringComparison.Ordinal)
            : throw new InvalidOperationException($"'in <string>' requires a string as left operand, not {JinjaValues.TypeName(item)}"),
        OrderedDictionary<string, object?> dict => item is string key && dict.ContainsKey(key),
        List<object?> list => list.Any(x => JinjaValues.Equals(x, item)),
        JinjaUndefined => false,
        _ => throw new InvalidOperationException($"argument of type {JinjaValues.TypeName(container)} is not iterable"),
    };

    public static bool ApplyTest(string name, object? value, IReadOnlyList<object?> args) => name switch
    {
        "defined" => value is not JinjaUndefined,
        "undefined" => value is JinjaUndefined,
        "none" => value is null,
        "string" => value is string,
        "number" => value is long or double or bool,
        "integer" => value is long or bool,
        "float" => value is double,
        "boolean" => value is bool,
        "true" => value is true,
        "false" => value is false,
        "mapping" => value is OrderedDictionary<string, object?>,
        "iterable" => value is string or List<object?> or OrderedDictionary<string, object?>,
        "sequence" => value is string or List<object?> or OrderedDictionary<string, object?>,
        "callable" => value is JinjaFunction,
        "odd" => JinjaValues.ToLong(value) % 2 != 0,
        "even" => JinjaValues.ToLong(value) % 2 == 0,
        "divisibleby" => JinjaValues.ToLong(value) % JinjaValues.ToLong(Arg(args, 0, name)) == 0,
        "eq" or "equalto" or "==" => JinjaValues.Equals(value, Arg(args, 0, name)),
        "ne" or "!=" => !JinjaValues.Equals(value, Arg(args, 0, name)),
        "lt" or "lessthan" or "<" => JinjaValues.Compare(value, Arg(args, 0, name)) < 0,
        "gt" or "greaterthan" or ">" => JinjaValues.Compare(value, Arg(args, 0, name)) > 0,
        "le" or "<=" => JinjaValues.Compare(value, Arg(args, 0, name)) <= 0,
        "ge" or ">=" => JinjaValues.Compare(value, Arg(args, 0, name)) >= 0,
        "in" => Contains(Arg(args, 0, name), value),
        "sameas" => ReferenceEquals(value, Arg(args, 0, name)) || (value is null && Arg(args, 0, name) is null) || (value is bool b && Arg(args, 0, name) is bool c && b == c),
        "lower" => value is string s && s == s.ToLowerInvariant(),
        "upper" => value is string t && t == t.ToUpperInvariant(),
        _ => throw new InvalidOperationException($"unknown test '{name}'"),
    };

    public static object? ApplyFilter(string name, object? value, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> keywords)
    {
        object? Param(int position, string keyword, object? fallback) =>
            position < args.Count ? args[position] : keywords.TryGetValue(keyword, out var v) ? v : fallback;

        switch (name)
        {
            case "safe" or "string" when name == "safe": return value;
            case "string": return JinjaValues.ToStr(value);
            case "trim": return Strip(Str(value, "trim"), Param(0, "chars", null), left: true, right: true);
            case "upper": return Str(value, name).ToUpperInvariant();
            case "lower": return Str(value, name).ToLowerInvariant();
            case "capitalize": return Capitalize(Str(value, name));
            case "title": return Title(Str(value, name));
            case "length" or "count": return JinjaValues.Length(value);
            case "default" or "d":
                var useDefault = value is JinjaUndefined || (JinjaValues.Truthy(Param(1, "boolean", false)) && !JinjaValues.Truthy(value));
                return useDefault ? Param(0, "default_value", "") : value;
            case "tojson":
                var indent = Param(0, "indent", null) switch
                {
                    null => null,
                    string s => s,
                    var n => new string(' ', (int)JinjaValues.ToLong(n)),
                };
                (string, string)? separators = Param(2, "separators", null) is List<object?> { Count: 2 } sep
                    ? (JinjaValues.ToStr(sep[0]), JinjaValues.ToStr(sep[1])) : null;
                return JinjaValues.ToJson(value, indent, separators, JinjaValues.Truthy(Param(3, "sort_keys", false)));
            case "join":
                var attribute = Param(1, "attribute", null);
                var parts = JinjaValues.Iterate(value).Select(item => attribute is null ? item : GetItem(item, attribute));
                return string.Join(JinjaValues.ToStr(Param(0, "d", "")), parts.Select(JinjaValues.ToStr));
            case "items":
                return value switch
                {
                    OrderedDictionary<string, object?> dict => dict.Select(kv => (object?)new JinjaTuple([kv.Key, kv.Value])).ToList(),
                    JinjaUndefined => new List<object?>(),
                    _ => throw new InvalidOperationException($"items filter needs a mapping, not {JinjaValues.TypeName(value)}"),
                };
            case "list": return JinjaValues.Iterate(value).ToList();
            case "first": return JinjaValues.Iterate(value).DefaultIfEmpty(new JinjaUndefined("first of an empty sequence")).First();
            case "last": return JinjaValues.Iterate(value).DefaultIfEmpty(new JinjaUndefined("last of an empty sequence")).Last();
            case "reverse": return value is string rs ? string.Concat(JinjaValues.CodePoints(rs).AsEnumerable().Reverse()) : JinjaValues.Iterate(value).Reverse().ToList();
            case "unique":
                var unique = new List<object?>();
                foreach (var item in JinjaValues.Iterate(value))
                    if (!unique.Any(u => JinjaValues.Equals(u, item))) unique.Add(item);
                return unique;
            case "sort":
                var reverse = JinjaValues.Truthy(Param(0, "reverse", false));
                var byAttribute = Param(2, "attribute", null);
                var sorted = JinjaValues.Iterate(value).ToList();
                var keyed = sorted.Select(item => (Item: item, Key: byAttribute is null ? item : GetItem(item, byAttribute))).ToList();
                keyed.Sort((a, b) => CompareForSort(a.Key, b.Key, JinjaValues.Truthy(Param(1, "case_sensitive", false))));
                if (reverse) keyed.Reverse();
                return keyed.Select(k => k.Item).ToList();
            case "dictsort":
                if (value is not OrderedDictionary<string, object?> sortable) throw new InvalidOperationException($"dictsort needs a mapping, not {JinjaValues.TypeName(value)}");
                return sortable.OrderBy(kv => kv.Key, StringComparer.OrdinalIgnoreCase).Select(kv => (object?)new JinjaTuple([kv.Key, kv.Value])).ToList();
            case "selectattr" or "rejectattr":
                var attr = Str(Arg(args, 0, name), name + " attribute");
                var keep = name == "selectattr";
                return JinjaValues.Iterate(value).Where(item =>
                {
                    var v = GetItem(item, attr);
                    var passed = args.Count > 1 ? ApplyTest(Str(args[1], "test name"), v, args.Skip(2).ToList()) : JinjaValues.Truthy(v);
                    return passed == keep;
                }).ToList();
            case "select" or "reject":
                var wanted = name == "select";
                return JinjaValues.Iterate(value).Where(item =>
                    (args.Count > 0 ? ApplyTest(Str(args[0], "test name"), item, args.Skip(1).ToList()) : JinjaValues.Truthy(item)) == wanted).ToList();
            case "map":
                if (keywords.TryGetValue("attribute", out var mapAttribute))
                {
                    var fallback = keywords.TryGetValue("default", out var d) ? d : null;
                    return JinjaValues.Iterate(value).Select(item => GetItem(item, mapAttribute) is JinjaUndefined && keywords.ContainsKey("default") ? fallback : GetItem(item, mapAttribute)).ToList();
                }
                var filterName = Str(Arg(args, 0, name), "map filter name");
                return JinjaValues.Iterate(value).Select(item => ApplyFilter(filterName, item, args.Skip(1).ToList(), NoKeywords)).ToList();
            case "int":
                return value switch
                {
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var f) => (long)f,
                    _ when JinjaValues.IsNumber(value) => JinjaValues.ToLong(value),
                    _ => Param(0, "default", 0L),
                };
            case "float":
                return value switch
                {
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var f) => f,
                    _ when JinjaValues.IsNumber(value) => JinjaValues.ToDouble(value),
                    _ => Param(0, "default", 0.0),
                };
            case "abs": return value is double ad ? (object)Math.Abs(ad) : Math.Abs(JinjaValues.ToLong(value));
            case "round":
                var precision = (int)JinjaValues.ToLong(Param(0, "precision", 0L));
                return Math.Round(JinjaValues.ToDouble(value), precision, MidpointRounding.ToEven);
            case "sum": return JinjaValues.Iterate(value).Aggregate(Param(1, "start", 0L), (acc, item) => Arithmetic("+", acc, item));
            case "min": return JinjaValues.Iterate(value).Aggregate((a, b) => JinjaValues.Compare(b, a) < 0 ? b : a);
            case "max": return JinjaValues.Iterate(value).Aggregate((a, b) => JinjaValues.Compare(b, a) > 0 ? b : a);
            case "replace":
                var count = Param(2, "count", null);
                return Replace(Str(value, name), Str(Arg(args, 0, name), "old"), Str(Arg(args, 1, name), "new"), count is null ? -1 : JinjaValues.ToLong(count));
            case "indent":
                var width = Param(0, "width", 4L) is string w ? w : new string(' ', (int)JinjaValues.ToLong(Param(0, "width", 4L)));
                var lines = Str(value, name).Split('\n');
                var indentFirst = JinjaValues.Truthy(Param(1, "first", false));
                var blank = JinjaValues.Truthy(Param(2, "blank", false));
                return string.Join("\n", lines.Select((line, i) =>
                    (i == 0 && !indentFirst) || (line.Length == 0 && !blank) ? line : width + line));
            default:
                throw new InvalidOperationException($"unknown filter '{name}'");
        }
    }

    private static int CompareForSort(object? a, object? b, bool caseSensitive) =>
        !caseSensitive && a is string x && b is string y
            ? string.CompareOrdinal(x.ToLowerInvariant(), y.ToLowerInvariant())
            : JinjaValues.Compare(a, b);

    private static JinjaFunction? DictMethod(OrderedDictionary<string, object?> dict, string name) => name switch
    {
        "items" => (_, _) => dict.Select(kv => (object?)new JinjaTuple([kv.Key, kv.Value])).ToList(),
        "keys" => (_, _) => dict.Keys.Cast<object?>().ToList(),
        "values" => (_, _) => dict.Values.ToList(),
        "get" => (args, _) => dict.TryGetValue(Str(Arg(args, 0, "get"), "key"), out var v) ? v : args.Count > 1 ? args[1] : null,
        _ => null,
    };

    private static JinjaFunction? StringMethod(string s, string name) => name switch
    {
        "startswith" => (args, _) => AnyPrefix(Arg(args, 0, name), p => s.StartsWith(p, StringComparison.Ordinal)),
        "endswith" => (args, _) => AnyPrefix(Arg(args, 0, name), p => s.EndsWith(p, StringComparison.Ordinal)),
        "strip" => (args, _) => Strip(s, args.Count > 0 ? args[0] : null, true, true),
        "lstrip" => (args, _) => Strip(s, args.Count > 0 ? args[0] : null, true, false),
        "rstrip" => (args, _) => Strip(s, args.Count > 0 ? args[0] : null, false, true),
        "split" => (args, kw) => Split(s, args.Count > 0 ? args[0] : kw.GetValueOrDefault("sep"),
            args.Count > 1 ? JinjaValues.ToLong(args[1]) : kw.TryGetValue("maxsplit", out var m) ? JinjaValues.ToLong(m) : -1),
        "replace" => (args, _) => Replace(s, Str(Arg(args, 0, name), "old"), Str(Arg(args, 1, name), "new"), args.Count > 2 ? JinjaValues.ToLong(args[2]) : -1),
        "upper" => (_, _) => s.ToUpperInvariant(),
        "lower" => (_, _) => s.ToLowerInvariant(),
        "title" => (_, _) => Title(s),
        "capitalize" => (_, _) => Capitalize(s),
        "find" => (args, _) => (long)s.IndexOf(Str(Arg(args, 0, name), "substring"), StringComparison.Ordinal),
        "count" => (args, _) => CountOccurrences(s, Str(Arg(args, 0, name), "substring")),
        "join" => (args, _) => string.Join(s, JinjaValues.Iterate(Arg(args, 0, name)).Select(x => Str(x, "joined item"))),
        "splitlines" => (_, _) => SplitLines(s),
        "isdigit" => (_, _) => s.Length > 0 && s.All(char.IsDigit),
        "isspace" => (_, _) => s.Length > 0 && s.All(char.IsWhiteSpace),
        _ => null,
    };

    private static List<object?> SplitLines(string s)
    {
        var lines = System.Text.RegularExpressions.Regex.Split(s, "\r\n|\r|\n").Select(l => (object?)l).ToList();
        if (lines.Count > 0 && (string?)lines[^1] == "") lines.RemoveAt(lines.Count - 1);
        return lines;
    }

    private static bool AnyPrefix(object? prefixes, Func<string, bool> test) => prefixes switch
    {
        string p => test(p),
        List<object?> list => list.Any(p => test(Str(p, "prefix"))),
        _ => throw new InvalidOperationException($"startswith/endswith needs a string or a tuple of strings, not {JinjaValues.TypeName(prefixes)}"),
    };

    private static string Strip(string s, object? chars, bool left, bool right)
    {
        if (chars is null or JinjaUndefined) return left && right ? s.Trim() : left ? s.TrimStart() : s.TrimEnd();
        var set = Str(chars, "strip characters").ToCharArray();
        return left && right ? s.Trim(set) : left ? s.TrimStart(set) : s.TrimEnd(set);
    }

    private static List<object?> Split(string s, object? separator, long maxSplit)
    {
        if (separator is null or JinjaUndefined)
        {
            // Python's split() with no separator: runs of whitespace, no empty strings.
            var words = new List<object?>();
            var i = 0;
            while (i < s.Length)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (maxSplit >= 0 && words.Count == maxSplit) { words.Add(s[i..].TrimEnd()); break; }
                var start = i;
                while (i < s.Length && !char.IsWhiteSpace(s[i])) i++;
                words.Add(s[start..i]);
            }
            return words;
        }
        var sep = Str(separator, "separator");
        if (sep.Length == 0) throw new InvalidOperationException("empty separator");
        var parts = maxSplit < 0 ? s.Split(sep) : s.Split(sep, (int)Math.Min(int.MaxValue, maxSplit + 1));
        return parts.Select(p => (object?)p).ToList();
    }

    private static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0) return old.Length == 0 ? InsertBetweenAll(s, replacement) : s.Replace(old, replacement, StringComparison.Ordinal);
        var builder = new StringBuilder();
        var position = 0;
        for (var done = 0L; done < count; done++)
        {
            var found = s.IndexOf(old, position, StringComparison.Ordinal);
            if (found < 0 || old.Length == 0) break;
            builder.Append(s, position, found - position).Append(replacement);
            position = found + old.Length;
        }
        return builder.Append(s, position, s.Length - position).ToString();
    }

    private static string InsertBetweenAll(string s, string insert) => insert + string.Concat(JinjaValues.CodePoints(s).Select(c => c + insert));

    private static long CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0) return JinjaValues.CodePoints(s).Count + 1;
        long count = 0;
        for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static string Title(string s)
    {
        var builder = new StringBuilder(s.Length);
        var previousCased = false;
        foreach (var c in s)
        {
            builder.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }
        return builder.ToString();
    }

    private static object? Arg(IReadOnlyList<object?> args, int index, string what) =>
        index < args.Count ? args[index] : throw new InvalidOperationException($"{what} is missing argument {index + 1}");

    private static string Str(object? value, string what) => value switch
    {
        string s => s,
        JinjaUndefined u => throw new InvalidOperationException($"{what}: {u.Description} is undefined"),
        _ => throw new InvalidOperationException($"{what} needs a string, not {JinjaValues.TypeName(value)}"),
    };

    /// <summary>Python's <c>datetime.strftime</c> for the directives chat templates use.</summary>
    internal static string PythonStrftime(DateTime time, string format)
    {
        var culture = CultureInfo.InvariantCulture;
        var builder = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { builder.Append(format[i]); continue; }
            var directive = format[++i];
            builder.Append(directive switch
            {
                'd' => time.ToString("dd", culture),
                'm' => time.ToString("MM", culture),
                'Y' => time.ToString("yyyy", culture),
                'y' => time.ToString("yy", culture),
                'b' => time.ToString("MMM", culture),
                'B' => time.ToString("MMMM", culture),
                'a' => time.ToString("ddd", culture),
                'A' => time.ToString("dddd", culture),
                'H' => time.ToString("HH", culture),
                'I' => time.ToString("hh", culture),
                'M' => time.ToString("mm", culture),
                'S' => time.ToString("ss", culture),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'j' => time.DayOfYear.ToString("000", culture),
                'f' => (time.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", culture),
                '%' => "%",
                _ => "%" + directive,
            });
        }
        return builder.ToString();
    }
}
