namespace HuatuoAspire.Model.StructuredOutput;

/// <summary>
/// The bytes of a JSON text that a <see cref="JsonGrammar"/> accepts, as a deterministic automaton built lazily: a state
/// is a stack of frames (the pushdown automaton's configuration, bounded by <see cref="MaxDepth"/>), interned to an int the
/// first time it is reached, and each transition is computed once and kept in a table. Every live state can still be
/// completed, so a byte is allowed exactly when <see cref="Step"/> does not return <see cref="Dead"/>.
/// What the grammar lets a model write beyond the schema is bounded, so that even a random model ends: whitespace
/// runs between tokens (<see cref="MaxWhitespaceRun"/>, as llama.cpp's JSON grammars), and number lengths (15 integer
/// and 15 fraction digits, 2 exponent digits: every number fits a double). Strings are valid UTF-8, their \u escapes
/// never lone surrogates (raw UTF-8 is always available instead). Not thread-safe.
/// </summary>
public sealed class JsonByteAutomaton
{
    public const int Dead = -1;
    private const int Unknown = -2;

    /// <summary>Whitespace bytes in a row between tokens.</summary>
    public const int MaxWhitespaceRun = 20;

    /// <summary>Nesting of frames (objects, arrays, the value inside them) beyond which no container may open.</summary>
    public const int MaxDepth = 64;

    private const int MaxIntegerDigits = 15, MaxFractionDigits = 15, MaxExponentDigits = 2;

    private readonly IReadOnlyList<GrammarNode> _nodes;
    private readonly List<StateKey> _states = [];
    private readonly Dictionary<StateKey, int> _ids = [];
    private readonly List<int[]> _next = [];
    private readonly List<bool> _accepting = [];
    private readonly Dictionary<int, (int Distance, byte First)> _completions = [];

    /// <summary>States a completion search may visit before it gives up (the text then has no short completion).</summary>
    public const int MaxCompletionSearch = 4096;

    public JsonByteAutomaton(JsonGrammar grammar)
    {
        Grammar = grammar;
        _nodes = grammar.Nodes;
        Intern(new StateKey([new Frame(FrameKind.Value, grammar.Root, 0, 0, 0)], 0));
    }

    public JsonGrammar Grammar { get; }

    /// <summary>The state before any byte.</summary>
    public int Start => 0;

    /// <summary>States reached so far.</summary>
    public int StateCount => _states.Count;

    /// <summary>The state after <paramref name="b"/>, or <see cref="Dead"/> when the byte cannot continue a valid text.</summary>
    public int Step(int state, byte b)
    {
        var row = _next[state];
        var next = row[b];
        if (next != Unknown) return next;
        next = Compute(_states[state], b);
        _next[state][b] = next;
        return next;
    }

    /// <summary>The state after <paramref name="bytes"/>, or <see cref="Dead"/>.</summary>
    public int Walk(int state, ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            state = Step(state, b);
            if (state == Dead) return Dead;
        }
        return state;
    }

    /// <summary>True when the text so far is a complete value of the grammar (generation may end here).</summary>
    public bool IsAccepting(int state) => _accepting[state];

    /// <summary>
    /// The fewest bytes that make the text from <paramref name="state"/> a complete value (close the string, add the
    /// required keys, close the brackets), and the first of them; <c>(int.MaxValue, 0)</c> when the search finds none
    /// within <see cref="MaxCompletionSearch"/> states. Breadth-first over bytes, remembered per state.
    /// </summary>
    public (int Distance, byte First) ShortestCompletion(int state)
    {
        if (_completions.TryGetValue(state, out var known)) return known;
        var found = SearchCompletion(state);
        _completions[state] = found;
        return found;
    }

    private (int Distance, byte First) SearchCompletion(int origin)
    {
        if (IsAccepting(origin)) return (0, 0);
        var seen = new HashSet<int> { origin };
        var frontier = new List<(int State, byte First)> { (origin, 0) };
        for (var depth = 1; frontier.Count > 0 && seen.Count < MaxCompletionSearch; depth++)
        {
            var next = new List<(int State, byte First)>();
            foreach (var (state, first) in frontier)
            {
                for (var b = 0; b < 256; b++)
                {
                    var reached = Step(state, (byte)b);
                    if (reached == Dead || !seen.Add(reached)) continue;
                    var start = depth == 1 ? (byte)b : first;
                    if (IsAccepting(reached)) return (depth, start);
                    next.Add((reached, start));
                }
            }
            frontier = next;
        }
        return (int.MaxValue, 0);
    }

    private int Intern(StateKey key)
    {
        if (_ids.TryGetValue(key, out var id)) return id;
        id = _states.Count;
        _states.Add(key);
        _ids.Add(key, id);
        var row = new int[256];
        Array.Fill(row, Unknown);
        _next.Add(row);
        _accepting.Add(key.Stack.Length == 0 || (key.Stack.Length == 1 && CanEndHere(key.Stack[0])));
        return id;
    }

    private int Compute(StateKey from, byte b)
    {
        var stack = new List<Frame>(from.Stack.Length + 2);
        stack.AddRange(from.Stack);
        if (!Consume(stack, b, out var whitespace)) return Dead;
        var run = whitespace ? from.Whitespace + 1 : 0;
        if (run > MaxWhitespaceRun) return Dead;
        return Intern(new StateKey(stack.ToArray(), run));
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t';
    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';

    // Feeds one byte to the top of the stack. A number or literal that cannot take the byte ends there, and the byte goes
    // on to the frame below; containers set their own next phase before pushing a child, so a child that ends just pops.
    private bool Consume(List<Frame> stack, byte b, out bool whitespace)
    {
        whitespace = false;
        while (stack.Count > 0)
        {
            var f = stack[^1];
            switch (f.Kind)
            {
                case FrameKind.Value:
                    if (IsWhitespace(b)) return whitespace = true;
                    if (!BeginValue(stack, f, b, out var consumed)) return false;
                    if (consumed) return true;
                    continue;
                case FrameKind.Object:
                    return ObjectByte(stack, f, b, out whitespace);
                case FrameKind.Array:
                    switch (ArrayByte(stack, f, b, out whitespace))
                    {
                        case Outcome.Consumed: return true;
                        case Outcome.Dead: return false;
                        default: continue;
                    }
                case FrameKind.String:
                    return StringByte(stack, f, b);
                case FrameKind.Number:
                    switch (NumberByte(stack, f, b))
                    {
                        case Outcome.Consumed: return true;
                        case Outcome.Dead: return false;
                        default: stack.RemoveAt(stack.Count - 1); continue;
                    }
                case FrameKind.Literal:
                    switch (LiteralByte(stack, f, b))
                    {
                        case Outcome.Consumed: return true;
                        case Outcome.Dead: return false;
                        default: stack.RemoveAt(stack.Count - 1); continue;
                    }
            }
        }
        return false; // the value is complete: nothing may follow it
    }

    private enum Outcome { Consumed, Dead, Redeliver }

    // Replaces a Value frame with the frame of the value b starts; `consumed` is false when that frame must read b itself.
    private bool BeginValue(List<Frame> stack, Frame f, byte b, out bool consumed)
    {
        consumed = true;
        var node = _nodes[f.Node];
        switch (node)
        {
            case AnyValueNode:
            {
                var id = b switch
                {
                    (byte)'{' => JsonGrammar.AnyObject,
                    (byte)'[' => JsonGrammar.AnyArray,
                    (byte)'"' => JsonGrammar.AnyString,
                    (byte)'-' or (>= (byte)'0' and <= (byte)'9') => JsonGrammar.AnyNumber,
                    (byte)'t' => JsonGrammar.True,
                    (byte)'f' => JsonGrammar.False,
                    (byte)'n' => JsonGrammar.Null,
                    _ => -1,
                };
                if (id < 0) return false;
                stack[^1] = f with { Node = id };
                consumed = false;
                return true;
            }
            case ChoiceNode choice:
            {
                foreach (var alternative in choice.Alternatives)
                {
                    if (!Starts(alternative, b)) continue;
                    stack[^1] = f with { Node = alternative };
                    consumed = false;
                    return true;
                }
                return false;
            }
            case ObjectNode:
                if (b != '{' || stack.Count > MaxDepth) return false;
                stack[^1] = new Frame(FrameKind.Object, f.Node, ObjectOpen, 0, 0);
                return true;
            case ArrayNode:
                if (b != '[' || stack.Count > MaxDepth) return false;
                stack[^1] = new Frame(FrameKind.Array, f.Node, ArrayOpen, 0, 0);
                return true;
            case StringNode:
                if (b != '"') return false;
                stack[^1] = new Frame(FrameKind.String, f.Node, StringNormal, 0, 0);
                return true;
            case NumberNode:
                stack[^1] = new Frame(FrameKind.Number, f.Node, NumberStart, 0, 0);
                consumed = false;
                return true;
            case LiteralNode literal:
                stack[^1] = new Frame(FrameKind.Literal, f.Node, 0, 0, AllBits(literal.Literals.Count));
                consumed = false;
                return true;
            default:
                return false;
        }
    }

    private bool Starts(int node, byte b) => _nodes[node] switch
    {
        AnyValueNode => b is (byte)'{' or (byte)'[' or (byte)'"' or (byte)'-' or (byte)'t' or (byte)'f' or (byte)'n' || IsDigit(b),
        ObjectNode => b == '{',
        ArrayNode => b == '[',
        StringNode => b == '"',
        NumberNode => b == '-' || IsDigit(b),
        LiteralNode literal => literal.Literals.Any(l => l.Length > 0 && l[0] == b),
        ChoiceNode choice => choice.Alternatives.Any(a => Starts(a, b)),
        _ => false,
    };

    private static ulong AllBits(int count) => count >= 64 ? ulong.MaxValue : (1UL << count) - 1;

    // Object phases. Open/Comma/AfterValue: A = index of the first property not yet written or skipped. Key: A = bytes
    // of the key literal matched, Mask = the properties it may still be. Colon: A = the property (-1 for any key).
    private const int ObjectOpen = 0, ObjectKey = 1, ObjectColon = 2, ObjectAfterValue = 3, ObjectComma = 4;

    private bool ObjectByte(List<Frame> stack, Frame f, byte b, out bool whitespace)
    {
        whitespace = false;
        var o = (ObjectNode)_nodes[f.Node];
        switch (f.Phase)
        {
            case ObjectOpen or ObjectComma:
                if (IsWhitespace(b)) return whitespace = true;
                if (b == '}' && f.Phase == ObjectOpen && CanClose(o, f.A))
                {
                    stack.RemoveAt(stack.Count - 1);
                    return true;
                }
                if (b != '"') return false;
                if (o.AnyKeys)
                {
                    stack[^1] = f with { Phase = ObjectColon, A = -1 };
                    stack.Add(new Frame(FrameKind.String, JsonGrammar.AnyString, StringNormal, 0, 0));
                    return true;
                }
                var candidates = KeyCandidates(o, f.A);
                if (candidates == 0) return false;
                stack[^1] = f with { Phase = ObjectKey, A = 1, Mask = candidates }; // every key literal starts with its quote
                return true;
            case ObjectKey:
            {
                ulong matching = 0;
                var complete = -1;
                for (var j = 0; j < o.Properties.Count; j++)
                {
                    if ((f.Mask & (1UL << j)) == 0) continue;
                    var key = o.Properties[j].KeyLiteral;
                    if (f.A >= key.Length || key[f.A] != b) continue;
                    matching |= 1UL << j;
                    if (key.Length == f.A + 1) complete = j; // a key literal ends at its only unescaped quote: no other continues
                }
                if (matching == 0) return false;
                stack[^1] = complete >= 0 ? f with { Phase = ObjectColon, A = complete, Mask = 0 } : f with { A = f.A + 1, Mask = matching };
                return true;
            }
            case ObjectColon:
            {
                if (IsWhitespace(b)) return whitespace = true;
                if (b != ':') return false;
                var value = f.A < 0 ? JsonGrammar.Any : o.Properties[f.A].Value;
                stack[^1] = f with { Phase = ObjectAfterValue, A = f.A < 0 ? 0 : f.A + 1 };
                stack.Add(new Frame(FrameKind.Value, value, 0, 0, 0));
                return true;
            }
            case ObjectAfterValue:
                if (IsWhitespace(b)) return whitespace = true;
                if (b == ',' && (o.AnyKeys || KeyCandidates(o, f.A) != 0))
                {
                    stack[^1] = f with { Phase = ObjectComma };
                    return true;
                }
                if (b == '}' && CanClose(o, f.A))
                {
                    stack.RemoveAt(stack.Count - 1);
                    return true;
                }
                return false;
            default:
                return false;
        }
    }

    // The properties that may come next: the following ones up to and including the first required one.
    private static ulong KeyCandidates(ObjectNode o, int from)
    {
        ulong mask = 0;
        for (var j = from; j < o.Properties.Count; j++)
        {
            mask |= 1UL << j;
            if (o.Properties[j].Required) break;
        }
        return mask;
    }

    private static bool CanClose(ObjectNode o, int from)
    {
        if (o.AnyKeys) return true;
        for (var j = from; j < o.Properties.Count; j++)
            if (o.Properties[j].Required) return false;
        return true;
    }

    // Array phases; A = items so far, saturating where no bound needs a larger count (so states stay few).
    private const int ArrayOpen = 0, ArrayAfterValue = 1, ArrayComma = 2;

    private Outcome ArrayByte(List<Frame> stack, Frame f, byte b, out bool whitespace)
    {
        whitespace = false;
        var a = (ArrayNode)_nodes[f.Node];
        var cap = a.MaxItems >= 0 ? Math.Max(a.MinItems, a.MaxItems) : a.MinItems;
        if (IsWhitespace(b))
        {
            whitespace = true;
            return Outcome.Consumed;
        }
        switch (f.Phase)
        {
            case ArrayOpen:
                if (b == ']' && a.MinItems == 0)
                {
                    stack.RemoveAt(stack.Count - 1);
                    return Outcome.Consumed;
                }
                if (a.MaxItems == 0) return Outcome.Dead;
                stack[^1] = f with { Phase = ArrayAfterValue, A = Math.Min(1, cap) };
                stack.Add(new Frame(FrameKind.Value, a.Items, 0, 0, 0));
                return Outcome.Redeliver;
            case ArrayComma:
                stack[^1] = f with { Phase = ArrayAfterValue, A = Math.Min(f.A + 1, cap) };
                stack.Add(new Frame(FrameKind.Value, a.Items, 0, 0, 0));
                return Outcome.Redeliver;
            case ArrayAfterValue:
                if (b == ',' && (a.MaxItems < 0 || f.A < a.MaxItems))
                {
                    stack[^1] = f with { Phase = ArrayComma };
                    return Outcome.Consumed;
                }
                if (b == ']' && f.A >= a.MinItems)
                {
                    stack.RemoveAt(stack.Count - 1);
                    return Outcome.Consumed;
                }
                return Outcome.Dead;
            default:
                return Outcome.Dead;
        }
    }

    // String phases. Hex: A = hex digits still to come. Utf8: A = continuation bytes still to come, Mask = the range the
    // next one must fall in (low | high << 8), which rules out overlong forms, surrogates and code points above U+10FFFF.
    private const int StringNormal = 0, StringEscape = 1, StringHex = 2, StringUtf8 = 3;

    private static bool StringByte(List<Frame> stack, Frame f, byte b)
    {
        switch (f.Phase)
        {
            case StringNormal:
                switch (b)
                {
                    case (byte)'"':
                        stack.RemoveAt(stack.Count - 1);
                        return true;
                    case (byte)'\\':
                        stack[^1] = f with { Phase = StringEscape };
                        return true;
                    case < 0x20:
                        return false;
                    case < 0x80:
                        return true;
                }
                var (count, low, high) = b switch
                {
                    >= 0xC2 and <= 0xDF => (1, 0x80, 0xBF),
                    0xE0 => (2, 0xA0, 0xBF),
                    0xED => (2, 0x80, 0x9F),
                    >= 0xE1 and <= 0xEF => (2, 0x80, 0xBF),
                    0xF0 => (3, 0x90, 0xBF),
                    >= 0xF1 and <= 0xF3 => (3, 0x80, 0xBF),
                    0xF4 => (3, 0x80, 0x8F),
                    _ => (0, 0, 0),
                };
                if (count == 0) return false;
                stack[^1] = f with { Phase = StringUtf8, A = count, Mask = (ulong)(low | high << 8) };
                return true;
            case StringEscape:
                if (b == 'u')
                {
                    stack[^1] = f with { Phase = StringHex, A = 4 };
                    return true;
                }
                if (b is not ((byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t')) return false;
                stack[^1] = f with { Phase = StringNormal };
                return true;
            case StringHex:
            {
                var hex = IsDigit(b) || b is >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';
                if (!hex || (f.A == 4 && b is (byte)'d' or (byte)'D')) return false; // \uD800-\uDFFF: surrogates
                stack[^1] = f.A == 1 ? f with { Phase = StringNormal, A = 0 } : f with { A = f.A - 1 };
                return true;
            }
            case StringUtf8:
            {
                if (b < (int)(f.Mask & 0xFF) || b > (int)(f.Mask >> 8 & 0xFF)) return false;
                stack[^1] = f.A == 1 ? f with { Phase = StringNormal, A = 0, Mask = 0 } : f with { A = f.A - 1, Mask = 0x80 | 0xBF << 8 };
                return true;
            }
            default:
                return false;
        }
    }

    // Number phases (JSON's grammar); A counts the digits of the current part.
    private const int NumberStart = 0, NumberMinus = 1, NumberZero = 2, NumberInteger = 3, NumberDot = 4, NumberFraction = 5,
        NumberExponent = 6, NumberExponentSign = 7, NumberExponentDigits = 8;

    private Outcome NumberByte(List<Frame> stack, Frame f, byte b)
    {
        var integer = ((NumberNode)_nodes[f.Node]).Integer;
        Outcome To(int phase, int a)
        {
            stack[^1] = f with { Phase = phase, A = a };
            return Outcome.Consumed;
        }
        var digit = IsDigit(b);
        var exponent = !integer && b is (byte)'e' or (byte)'E';
        switch (f.Phase)
        {
            case NumberStart or NumberMinus:
                if (b == '-' && f.Phase == NumberStart) return To(NumberMinus, 0);
                if (b == '0') return To(NumberZero, 0);
                return digit ? To(NumberInteger, 1) : Outcome.Dead;
            case NumberZero or NumberInteger:
                if (digit && f.Phase == NumberInteger && f.A < MaxIntegerDigits) return To(NumberInteger, f.A + 1);
                if (b == '.' && !integer) return To(NumberDot, 0);
                if (exponent) return To(NumberExponent, 0);
                return Outcome.Redeliver;
            case NumberDot:
                return digit ? To(NumberFraction, 1) : Outcome.Dead;
            case NumberFraction:
                if (digit && f.A < MaxFractionDigits) return To(NumberFraction, f.A + 1);
                if (exponent) return To(NumberExponent, 0);
                return Outcome.Redeliver;
            case NumberExponent:
                if (b is (byte)'+' or (byte)'-') return To(NumberExponentSign, 0);
                return digit ? To(NumberExponentDigits, 1) : Outcome.Dead;
            case NumberExponentSign:
                return digit ? To(NumberExponentDigits, 1) : Outcome.Dead;
            case NumberExponentDigits:
                if (digit && f.A < MaxExponentDigits) return To(NumberExponentDigits, f.A + 1);
                return Outcome.Redeliver;
            default:
                return Outcome.Dead;
        }
    }

    // Literal: A = bytes matched, Mask = the literals still possible.
    private Outcome LiteralByte(List<Frame> stack, Frame f, byte b)
    {
        var literals = ((LiteralNode)_nodes[f.Node]).Literals;
        ulong matching = 0;
        var longer = false;
        var endsHere = false;
        for (var j = 0; j < literals.Count; j++)
        {
            if ((f.Mask & (1UL << j)) == 0) continue;
            var literal = literals[j];
            if (literal.Length == f.A) endsHere = true;
            if (f.A >= literal.Length || literal[f.A] != b) continue;
            matching |= 1UL << j;
            if (literal.Length > f.A + 1) longer = true;
        }
        if (matching == 0) return endsHere ? Outcome.Redeliver : Outcome.Dead;
        if (!longer)
        {
            stack.RemoveAt(stack.Count - 1); // complete, and nothing longer can follow
            return Outcome.Consumed;
        }
        stack[^1] = f with { A = f.A + 1, Mask = matching };
        return Outcome.Consumed;
    }

    // A frame that may end without another byte (a number or a literal with nothing that must follow).
    private bool CanEndHere(Frame f) => f.Kind switch
    {
        FrameKind.Number => f.Phase is NumberZero or NumberInteger or NumberFraction or NumberExponentDigits,
        FrameKind.Literal => ((LiteralNode)_nodes[f.Node]).Literals.Where((l, j) => (f.Mask & (1UL << j)) != 0).Any(l => l.Length == f.A),
        _ => false,
    };

    private enum FrameKind : byte { Value, Object, Array, String, Number, Literal }

    private readonly record struct Frame(FrameKind Kind, int Node, int Phase, int A, ulong Mask);

    private sealed class StateKey : IEquatable<StateKey>
    {
        private readonly int _hash;

        public StateKey(Frame[] stack, int whitespace)
        {
            Stack = stack;
            Whitespace = whitespace;
            var hash = new HashCode();
            hash.Add(whitespace);
            foreach (var frame in stack) hash.Add(frame);
            _hash = hash.ToHashCode();
        }

        public Frame[] Stack { get; }
        public int Whitespace { get; }

        public bool Equals(StateKey? other) =>
            other is not null && _hash == other._hash && Whitespace == other.Whitespace && Stack.AsSpan().SequenceEqual(other.Stack);

        public override bool Equals(object? obj) => Equals(obj as StateKey);
        public override int GetHashCode() => _hash;
    }
}
