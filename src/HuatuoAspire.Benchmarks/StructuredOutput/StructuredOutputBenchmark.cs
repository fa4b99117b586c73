using System.Diagnostics;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.StructuredOutput;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Benchmarks.StructuredOutput;

/// <summary>Mean and 95th percentile of a per-token cost, in microseconds.</summary>
public sealed record PerTokenCost(double MeanMicroseconds, double P95Microseconds)
{
    public static PerTokenCost Of(List<double> microseconds)
    {
        microseconds.Sort();
        return new PerTokenCost(microseconds.Average(), microseconds[Math.Min(microseconds.Count - 1, (int)(microseconds.Count * 0.95))]);
    }
}

/// <summary>Figures of one <see cref="StructuredOutputBenchmark"/> run.</summary>
public sealed record StructuredOutputBenchmarkResult(
    string Grammar,
    int VocabularySize,
    int TrieNodes,
    double VocabularyBuildMilliseconds,
    double PlainDecodeTokensPerSecond,
    double JsonDecodeTokensPerSecond,
    double BudgetedJsonDecodeTokensPerSecond,
    int DecodeBudget,
    PerTokenCost Mask,
    PerTokenCost ClosingMask,
    PerTokenCost ClosingMaskFirstPass,
    int MaskedStates,
    double MaskBuildMillisecondsPerState,
    int ClosingStates,
    double ClosingBuildMillisecondsPerState)
{
    /// <summary>What a constrained token costs beyond a free one in batch-1 decode, from the two decode figures.</summary>
    public double DecodeOverheadMicrosecondsPerToken => 1e6 / JsonDecodeTokensPerSecond - 1e6 / PlainDecodeTokensPerSecond;

    /// <summary>The same with every step inside the closing horizon of its token budget.</summary>
    public double BudgetedDecodeOverheadMicrosecondsPerToken => 1e6 / BudgetedJsonDecodeTokensPerSecond - 1e6 / PlainDecodeTokensPerSecond;
}

/// <summary>
/// The cost of structured output: batch-1 decode with sampling (T = 1) free, constrained with no token budget, and
/// constrained with a budget of at most <see cref="TokenAutomaton.ClosingHorizon"/> tokens per reply (so every step is
/// in the tail where the cursor keeps only tokens after which the value can still close, as the service does for a
/// max_tokens of 128 or less), on the same model and seeds; the constraint alone per token (mask and cursor) in both
/// modes, mean and 95th percentile; and the one-off costs of a state's allowed set and of its closing distances (each a walk of the vocabulary trie).
/// </summary>
public static class StructuredOutputBenchmark
{
    /// <summary>Tokens per reply in the budgeted decode and the closing-mask figures: all inside the closing horizon.</summary>
    public const int ClosingBudget = 64;

    public static StructuredOutputBenchmarkResult Run(CausalLanguageModel model, HfTokenizer tokenizer, JsonGrammar? grammar = null, int tokens = 256,
        int repeats = 3)
    {
        grammar ??= JsonGrammar.AnyObjectGrammar;
        var clock = Stopwatch.StartNew();
        var vocabulary = TokenVocabulary.For(tokenizer);
        var vocabularyMs = clock.Elapsed.TotalMilliseconds;
        var automaton = vocabulary.AutomatonFor(grammar);
        var prompt = tokenizer.Encode("Give the patient's record as a JSON object: ", addSpecialTokens: true);

        // The first constrained pass fills the automaton's caches and records where each JSON reply ended; the free
        // passes end their sequences at the same lengths, so both pay for the same prefills and cache positions.
        var lengths = new List<int>();
        Decode(model, prompt, tokens, automaton, budget: null, lengths);
        var mask = MaskOnly(automaton, model.Config.VocabSize, tokens, repeats, budget: null, out _);
        var closing = MaskOnly(automaton, model.Config.VocabSize, tokens, repeats, ClosingBudget, out var closingFirstPass);
        double plain = 0, json = 0, budgeted = 0;
        for (var r = 0; r < repeats; r++)
        {
            plain = Math.Max(plain, Decode(model, prompt, tokens, null, budget: null, lengths));
            json = Math.Max(json, Decode(model, prompt, tokens, automaton, budget: null, null));
            budgeted = Math.Max(budgeted, Decode(model, prompt, tokens, automaton, ClosingBudget, null));
        }
        return new StructuredOutputBenchmarkResult(grammar.Key, vocabulary.Size, vocabulary.TrieNodes, vocabularyMs, plain, json, budgeted, ClosingBudget,
            mask, closing, closingFirstPass, automaton.MaskedStates, automaton.MaskBuildTime.TotalMilliseconds / Math.Max(1, automaton.MaskedStates),
            automaton.ClosingStates, automaton.ClosingBuildTime.TotalMilliseconds / Math.Max(1, automaton.ClosingStates));
    }

    // Tokens per second of batch-1 sampled decode steps (prefills not counted). Constrained: a sequence that ends (a
    // complete JSON value, or its budget spent) is replaced by a new one, and its length goes to `record`; free:
    // sequence i has length lengths[i].
    private static double Decode(CausalLanguageModel model, IReadOnlyList<int> prompt, int tokens, TokenAutomaton? automaton, int? budget,
        List<int>? lengths)
    {
        var maxLength = Math.Min(model.Config.MaxPositionEmbeddings, prompt.Count + tokens + 2);
        using var decoder = new BatchedDecoder(model, 1, maxLength);
        var generated = 0;
        var decoding = new Stopwatch();
        for (var sequence = 0; generated < tokens; sequence++)
        {
            var left = Math.Min(tokens - generated, budget ?? int.MaxValue);
            if (automaton is null && lengths is not null && sequence < lengths.Count) left = Math.Min(left, lengths[sequence]);
            var options = new SamplingOptions { Temperature = 1, Seed = sequence, MaxNewTokens = left, StopTokenIds = automaton is null ? new HashSet<int>() : null };
            var first = decoder.Add(prompt, options, automaton?.Begin(budget is null ? int.MaxValue : left));
            var length = 1;
            generated++;
            while (!first.Finished && decoder.Contains(first.SequenceId))
            {
                decoding.Start();
                var step = decoder.Step().Count;
                decoding.Stop();
                generated += step;
                length += step;
            }
            if (automaton is not null && lengths is not null) lengths.Add(length);
        }
        return generated / Math.Max(1e-9, decoding.Elapsed.TotalSeconds);
    }

    // The mask and the cursor alone, on random logits, replaying the same walks so every state is cached: µs per token
    // over the passes after the first (which fills the caches; its own figure comes back in `firstPass`). With a budget,
    // each walk is cut (or closes) within it, and a new one begins.
    private static PerTokenCost MaskOnly(TokenAutomaton automaton, int vocab, int tokens, int repeats, int? budget, out PerTokenCost firstPass)
    {
        var random = new Random(7);
        var noise = new float[vocab * 4];
        for (var i = 0; i < noise.Length; i++) noise[i] = (float)random.NextDouble();
        var logits = new float[vocab];
        var warm = new List<double>();
        var cold = new List<double>();
        for (var r = 0; r <= repeats; r++)
        {
            var samples = r == 0 ? cold : warm;
            var cursor = automaton.Begin(budget ?? int.MaxValue);
            var used = 0;
            for (var t = 0; t < tokens; t++)
            {
                noise.AsSpan(t % 4 * vocab, vocab).CopyTo(logits);
                var started = Stopwatch.GetTimestamp();
                cursor.Mask(logits);
                var masked = Stopwatch.GetTimestamp();
                var chosen = 0;
                for (var i = 1; i < vocab; i++) if (logits[i] > logits[chosen]) chosen = i;
                var accepting = Stopwatch.GetTimestamp();
                cursor.Accept(chosen);
                samples.Add(Stopwatch.GetElapsedTime(started, masked).TotalMicroseconds + Stopwatch.GetElapsedTime(accepting).TotalMicroseconds);
                if (cursor.Ended || ++used == budget)
                {
                    cursor = automaton.Begin(budget ?? int.MaxValue);
                    used = 0;
                }
            }
        }
        firstPass = PerTokenCost.Of(cold);
        return PerTokenCost.Of(warm);
    }
}
