using System.Runtime.CompilerServices;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Model.StructuredOutput;

/// <summary>
/// A tokenizer's vocabulary as constrained decoding walks it: every token's bytes in a trie (so the tokens sharing a
/// prefix are checked against an automaton once for that prefix), the end-of-sequence ids, and the token automata built
/// for it, one per grammar, cached (<see cref="AutomatonFor"/>). Special tokens have no bytes: they are never allowed,
/// except end-of-sequence where the output is complete. One per tokenizer (<see cref="For"/>). Thread-safe.
/// </summary>
public sealed class TokenVocabulary
{
    /// <summary>Token automata kept per vocabulary; the least recently used goes first.</summary>
    public const int MaxCachedAutomata = 64;

    private static readonly ConditionalWeakTable<HfTokenizer, TokenVocabulary> ByTokenizer = new();

    private readonly Dictionary<string, (TokenAutomaton Automaton, long LastUse)> _automata = [];
    private readonly Lock _lock = new();
    private long _uses;

    /// <summary>Builds the trie over <paramref name="tokenBytes"/> (null: a token that never appears in structured output).</summary>
    public TokenVocabulary(IReadOnlyList<byte[]?> tokenBytes, IEnumerable<int> endOfSequenceIds)
    {
        Size = tokenBytes.Count;
        Bytes = tokenBytes.ToArray();
        EndOfSequenceIds = endOfSequenceIds.Where(id => (uint)id < (uint)Size).ToHashSet();
        var ids = Enumerable.Range(0, Size).Where(id => tokenBytes[id] is { Length: > 0 } && !EndOfSequenceIds.Contains(id)).ToArray();
        Array.Sort(ids, (a, b) => tokenBytes[a].AsSpan().SequenceCompareTo(tokenBytes[b]));
        NextTokenAtNode = new int[Size];
        Array.Fill(NextTokenAtNode, -1);
        var builder = new TrieBuilder(tokenBytes, ids, NextTokenAtNode);
        builder.Build(0, ids.Length, 0);
        FirstTokenAtNode = builder.FirstToken.ToArray();
        ChildStart = builder.ChildStart.ToArray();
        ChildCount = builder.ChildCount.ToArray();
        EdgeByte = builder.EdgeByte.ToArray();
        EdgeNode = builder.EdgeNode.ToArray();
    }

    /// <summary>The vocabulary of <paramref name="tokenizer"/>, built once and kept as long as the tokenizer lives.</summary>
    public static TokenVocabulary For(HfTokenizer tokenizer) => ByTokenizer.GetValue(tokenizer, t =>
    {
        var bytes = new byte[]?[t.VocabSize];
        var special = t.AddedTokens.Where(a => a.Special).Select(a => a.Id).ToHashSet();
        for (var id = 0; id < bytes.Length; id++)
        {
            if (special.Contains(id) || t.IdToToken(id) is null) continue;
            bytes[id] = t.TokenBytes(id);
        }
        return new TokenVocabulary(bytes, t.EosTokenIds);
    });

    /// <summary>Token ids are 0 .. Size - 1.</summary>
    public int Size { get; }

    public IReadOnlySet<int> EndOfSequenceIds { get; }

    /// <summary>Each token's bytes; null for tokens that never appear in structured output.</summary>
    internal byte[]?[] Bytes { get; }

    // The trie: node 0 is the root; node n's children are the edges ChildStart[n] .. + ChildCount[n].
    internal int[] FirstTokenAtNode { get; }
    internal int[] NextTokenAtNode { get; }
    internal int[] ChildStart { get; }
    internal int[] ChildCount { get; }
    internal byte[] EdgeByte { get; }
    internal int[] EdgeNode { get; }

    public int TrieNodes => FirstTokenAtNode.Length;

    /// <summary>The token automaton of <paramref name="grammar"/> over this vocabulary: built on first use, then cached.</summary>
    /// <exception cref="InvalidOperationException">The vocabulary has no end-of-sequence token, so no reply could end.</exception>
    public TokenAutomaton AutomatonFor(JsonGrammar grammar)
    {
        if (EndOfSequenceIds.Count == 0)
            throw new InvalidOperationException("The tokenizer has no end-of-sequence token, so a constrained reply could never end.");
        lock (_lock)
        {
            var use = ++_uses;
            if (_automata.TryGetValue(grammar.Key, out var cached))
            {
                _automata[grammar.Key] = (cached.Automaton, use);
                return cached.Automaton;
            }
            if (_automata.Count >= MaxCachedAutomata) _automata.Remove(_automata.MinBy(e => e.Value.LastUse).Key);
            var automaton = new TokenAutomaton(this, new JsonByteAutomaton(grammar));
            _automata[grammar.Key] = (automaton, use);
            return automaton;
        }
    }

    private sealed class TrieBuilder(IReadOnlyList<byte[]?> bytes, int[] sorted, int[] nextToken)
    {
        public readonly List<int> FirstToken = [];
        public readonly List<int> ChildStart = [];
        public readonly List<int> ChildCount = [];
        public readonly List<byte> EdgeByte = [];
        public readonly List<int> EdgeNode = [];

        // Sorted tokens [lo, hi) share their first `depth` bytes; those exactly that long end at this node (they sort first).
        public int Build(int lo, int hi, int depth)
        {
            var node = FirstToken.Count;
            FirstToken.Add(-1);
            ChildStart.Add(0);
            ChildCount.Add(0);
            var i = lo;
            var last = -1;
            while (i < hi && bytes[sorted[i]]!.Length == depth)
            {
                if (last < 0) FirstToken[node] = sorted[i];
                else nextToken[last] = sorted[i];
                last = sorted[i++];
            }
            var groups = new List<(byte Byte, int Lo, int Hi)>();
            while (i < hi)
            {
                var b = bytes[sorted[i]]![depth];
                var j = i;
                while (j < hi && bytes[sorted[j]]![depth] == b) j++;
                groups.Add((b, i, j));
                i = j;
            }
            ChildStart[node] = EdgeByte.Count;
            ChildCount[node] = groups.Count;
            foreach (var g in groups)
            {
                EdgeByte.Add(g.Byte);
                EdgeNode.Add(-1);
            }
            for (var k = 0; k < groups.Count; k++)
                EdgeNode[ChildStart[node] + k] = Build(groups[k].Lo, groups[k].Hi, depth + 1);
            return node;
        }
    }
}
