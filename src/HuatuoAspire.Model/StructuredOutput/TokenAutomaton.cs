using HuatuoAspire.Model.Generation;

namespace HuatuoAspire.Model.StructuredOutput;

/// <summary>
/// A grammar lifted from bytes to tokens: for each state of the byte automaton, the set of tokens whose bytes keep the
/// output valid, computed the first time the state is reached (one walk of the vocabulary trie, pruned where the
/// automaton dies) and then kept as a bitset, plus end-of-sequence where the output is complete. Built once per
/// grammar and vocabulary (<see cref="TokenVocabulary.AutomatonFor"/>) and shared by every sequence that uses it;
/// thread-safe. <see cref="Begin"/> gives one sequence its own cursor. Given the sequence's token budget, the cursor
/// closes the value before the budget runs out (the shortest completion, one byte token at a time), so a reply cut by
/// its length still parses; what it needs for that, the shortest completion after each allowed token, is also computed
/// once per state (<see cref="ClosingDistances"/>), so a step in the tail costs about what an ordinary step does.
/// </summary>
public sealed class TokenAutomaton
{
    private readonly JsonByteAutomaton _bytes;
    private readonly List<ulong[]?> _allowed = [];
    private readonly List<ClosingDistances?> _closing = [];
    private readonly Lock _lock = new();
    private int[] _nodeStack = new int[256];
    private int[] _stateStack = new int[256];
    private int[]? _singleByteTokens;

    /// <summary>How close to the end of its budget a cursor starts checking whether it must close the value now.</summary>
    public const int ClosingHorizon = 128;

    internal TokenAutomaton(TokenVocabulary vocabulary, JsonByteAutomaton bytes)
    {
        Vocabulary = vocabulary;
        _bytes = bytes;
    }

    public TokenVocabulary Vocabulary { get; }
    public JsonGrammar Grammar => _bytes.Grammar;

    /// <summary>States whose allowed-token set has been computed so far.</summary>
    public int MaskedStates { get; private set; }

    /// <summary>Time spent computing allowed-token sets (the first visit of each state); later visits only read them.</summary>
    public TimeSpan MaskBuildTime { get; private set; }

    /// <summary>States whose closing distances (<see cref="Closing"/>) have been computed so far.</summary>
    public int ClosingStates { get; private set; }

    /// <summary>Time spent computing closing distances (the first visit of each state inside a closing tail).</summary>
    public TimeSpan ClosingBuildTime { get; private set; }

    /// <summary>A cursor at the start of the output, for one sequence.</summary>
    public ITokenConstraint Begin(int tokenBudget = int.MaxValue) => new Cursor(this, tokenBudget);

    /// <summary>See <see cref="JsonByteAutomaton.ShortestCompletion"/>.</summary>
    public (int Distance, byte First) ShortestCompletion(int state)
    {
        lock (_lock) return _bytes.ShortestCompletion(state);
    }

    /// <summary>The token that is exactly byte <paramref name="b"/>, or -1 (byte-level vocabularies have all 256).</summary>
    public int SingleByteToken(byte b)
    {
        var map = _singleByteTokens;
        if (map is null)
        {
            map = new int[256];
            Array.Fill(map, -1);
            for (var id = Vocabulary.Size - 1; id >= 0; id--)
            {
                if (Vocabulary.Bytes[id] is { Length: 1 } one && !Vocabulary.EndOfSequenceIds.Contains(id)) map[one[0]] = id;
            }
            _singleByteTokens = map;
        }
        return map[b];
    }

    /// <summary>The tokens allowed in <paramref name="state"/>, one bit per id (bit i of word i / 64). Do not modify.</summary>
    public ulong[] Allowed(int state)
    {
        lock (_lock)
        {
            while (_allowed.Count <= state) _allowed.Add(null);
            return _allowed[state] ??= Compute(state);
        }
    }

    /// <summary>The shortest completion after each token allowed in <paramref name="state"/>; computed on first use, then kept.</summary>
    internal ClosingDistances Closing(int state)
    {
        lock (_lock)
        {
            while (_closing.Count <= state) _closing.Add(null);
            return _closing[state] ??= ComputeClosing(state);
        }
    }

    /// <summary>The byte-automaton state after <paramref name="tokenId"/>'s bytes, or <see cref="JsonByteAutomaton.Dead"/>.</summary>
    public int Next(int state, int tokenId)
    {
        if (Vocabulary.Bytes[tokenId] is not { Length: > 0 } bytes) return JsonByteAutomaton.Dead;
        lock (_lock) return _bytes.Walk(state, bytes);
    }

    public bool IsAccepting(int state)
    {
        lock (_lock) return _bytes.IsAccepting(state);
    }

    /// <summary>What a walk over the trie does at each node where tokens end, given the byte state after its prefix.</summary>
    private interface ITokenNodeVisitor
    {
        void Visit(int node, int byteState);
    }

    // Depth-first over the trie from a byte state: a subtree is entered only while the automaton is still alive after
    // its prefix. The visitor is a struct, so each walk is compiled for it (no call through an interface per node).
    private void WalkAlive<TVisitor>(int state, ref TVisitor visitor) where TVisitor : struct, ITokenNodeVisitor
    {
        var v = Vocabulary;
        var top = 0;
        _nodeStack[top] = 0;
        _stateStack[top++] = state;
        while (top > 0)
        {
            top--;
            var node = _nodeStack[top];
            var at = _stateStack[top];
            var end = v.ChildStart[node] + v.ChildCount[node];
            for (var e = v.ChildStart[node]; e < end; e++)
            {
                var next = _bytes.Step(at, v.EdgeByte[e]);
                if (next == JsonByteAutomaton.Dead) continue;
                var child = v.EdgeNode[e];
                if (v.FirstTokenAtNode[child] >= 0) visitor.Visit(child, next);
                if (v.ChildCount[child] == 0) continue;
                if (top == _nodeStack.Length)
                {
                    Array.Resize(ref _nodeStack, top * 2);
                    Array.Resize(ref _stateStack, top * 2);
                }
                _nodeStack[top] = child;
                _stateStack[top++] = next;
            }
        }
    }

    // Every token the walk reaches is allowed.
    private struct AllowedTokens(TokenVocabulary vocabulary, ulong[] bits) : ITokenNodeVisitor
    {
        public readonly void Visit(int node, int byteState)
        {
            for (var t = vocabulary.FirstTokenAtNode[node]; t >= 0; t = vocabulary.NextTokenAtNode[t]) bits[t >> 6] |= 1UL << t;
        }
    }

    // The shortest completion after each token the walk reaches (cached per byte state: neighbouring nodes mostly lead
    // to the same state, a string's content tokens all back to the string itself).
    private struct TokenDistances(TokenAutomaton automaton, int[] distanceOf, int[] histogram) : ITokenNodeVisitor
    {
        private int _lastState = JsonByteAutomaton.Dead;
        private int _lastDistance;

        public void Visit(int node, int byteState)
        {
            if (byteState != _lastState)
                (_lastState, _lastDistance) = (byteState, Math.Min(automaton._bytes.ShortestCompletion(byteState).Distance, ClosingHorizon));
            for (var t = automaton.Vocabulary.FirstTokenAtNode[node]; t >= 0; t = automaton.Vocabulary.NextTokenAtNode[t])
            {
                distanceOf[t] = _lastDistance;
                histogram[_lastDistance]++;
            }
        }
    }

    private ulong[] Compute(int state)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var bits = new ulong[(Vocabulary.Size + 63) / 64];
        var allowed = new AllowedTokens(Vocabulary, bits);
        WalkAlive(state, ref allowed);
        if (_bytes.IsAccepting(state))
        {
            foreach (var eos in Vocabulary.EndOfSequenceIds) bits[eos >> 6] |= 1UL << eos;
        }
        MaskedStates++;
        MaskBuildTime += System.Diagnostics.Stopwatch.GetElapsedTime(started);
        return bits;
    }

    private ClosingDistances ComputeClosing(int state)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var distanceOf = new int[Vocabulary.Size];
        Array.Fill(distanceOf, -1);
        var histogram = new int[ClosingHorizon + 1];
        var distances = new TokenDistances(this, distanceOf, histogram);
        WalkAlive(state, ref distances);
        var common = Array.IndexOf(histogram, histogram.Max());
        var others = new List<long>();
        for (var id = 0; id < distanceOf.Length; id++)
        {
            // Sorting the keys orders by distance descending, then by id.
            if (distanceOf[id] >= 0 && distanceOf[id] != common) others.Add((long)(ClosingHorizon - distanceOf[id]) << 32 | (uint)id);
        }
        others.Sort();
        ClosingStates++;
        ClosingBuildTime += System.Diagnostics.Stopwatch.GetElapsedTime(started);
        return new ClosingDistances(common, histogram[common], others.Select(k => (int)(k & 0xFFFFFFFF)).ToArray(),
            others.Select(k => ClosingHorizon - (int)(k >> 32)).ToArray());
    }

    private sealed class Cursor(TokenAutomaton automaton, int tokenBudget) : ITokenConstraint
    {
        private int _state = automaton._bytes.Start;
        private int _accepted;

        public bool Ended { get; private set; }

        public void Mask(Span<float> logits)
        {
            var bits = automaton.Allowed(_state);
            var size = Math.Min(logits.Length, automaton.Vocabulary.Size);
            for (var w = 0; w * 64 < size; w++)
            {
                var word = bits[w];
                if (word == ulong.MaxValue) continue;
                var end = Math.Min(size, w * 64 + 64);
                if (word == 0)
                {
                    logits[(w * 64)..end].Fill(float.NegativeInfinity);
                    continue;
                }
                // Only the refused tokens are touched: inside a string that is a few per word.
                var refused = ~word;
                while (refused != 0)
                {
                    var i = w * 64 + System.Numerics.BitOperations.TrailingZeroCount(refused);
                    if (i >= end) break;
                    logits[i] = float.NegativeInfinity;
                    refused &= refused - 1;
                }
            }
            logits[size..].Fill(float.NegativeInfinity);
            if (tokenBudget - _accepted <= ClosingHorizon) KeepOnlyWhatCanStillClose(logits);
        }

        // Near the end of the budget a token is allowed only when the value can still be completed after it with the
        // tokens then left (one byte token per byte of the shortest completion): a reply cut by its length still parses.
        // The distances after each token are computed once per state; a step touches only the tokens whose side of the
        // bound differs from the common case, and nothing at all while the budget covers the largest distance.
        private void KeepOnlyWhatCanStillClose(Span<float> logits)
        {
            var left = tokenBudget - _accepted - 1;
            var closing = automaton.Closing(_state);
            var accepting = automaton.IsAccepting(_state);
            if (closing.Max <= left && (closing.Max >= 0 || accepting)) return;
            var size = Math.Min(logits.Length, automaton.Vocabulary.Size);
            var above = closing.CountAbove(left);
            bool any;
            if (closing.CommonCount > 0 && closing.Common <= left)
            {
                foreach (var id in closing.Ids.AsSpan(0, above)) logits[id] = float.NegativeInfinity;
                any = true;
            }
            else
            {
                // The common tokens are refused: only the listed ones within the budget, and end-of-sequence, stay.
                var kept = closing.Ids.AsSpan(above);
                var eos = automaton.Vocabulary.EndOfSequenceIds;
                var saved = System.Buffers.ArrayPool<float>.Shared.Rent(kept.Length + eos.Count);
                var n = 0;
                foreach (var id in kept) saved[n++] = logits[id];
                foreach (var id in eos) saved[n++] = (uint)id < (uint)size ? logits[id] : float.NegativeInfinity;
                logits[..size].Fill(float.NegativeInfinity);
                n = 0;
                foreach (var id in kept) logits[id] = saved[n++];
                foreach (var id in eos) if ((uint)id < (uint)size) logits[id] = saved[n++]; else n++;
                any = kept.Length > 0 || accepting;
                System.Buffers.ArrayPool<float>.Shared.Return(saved);
            }
            if (any) return;
            // The budget was already too small: the shortest completion's next byte, as far as it goes.
            var (distance, first) = automaton.ShortestCompletion(_state);
            if (distance is > 0 and < int.MaxValue && automaton.SingleByteToken(first) is var token and >= 0) logits[token] = 0f;
        }

        public void Accept(int tokenId)
        {
            if (Ended) throw new InvalidOperationException("The output is already complete.");
            _accepted++;
            var vocabulary = automaton.Vocabulary;
            if (vocabulary.EndOfSequenceIds.Contains(tokenId))
            {
                if (!automaton.IsAccepting(_state)) throw new InvalidOperationException($"End-of-sequence token {tokenId} before the output is complete.");
                Ended = true;
                return;
            }
            var next = (uint)tokenId < (uint)vocabulary.Size ? automaton.Next(_state, tokenId) : JsonByteAutomaton.Dead;
            if (next == JsonByteAutomaton.Dead) throw new InvalidOperationException($"Token {tokenId} is not allowed here.");
            _state = next;
        }
    }
}
