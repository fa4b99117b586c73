using System.Diagnostics;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.StructuredOutput;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Benchmarks.StructuredOutput;

/// <summary>Figures of one <see cref="StructuredOutputBenchmark"/> run.</summary>
public sealed record StructuredOutputBenchmarkResult(
    int VocabularySize,
    int TrieNodes,
    double VocabularyBuildMilliseconds,
    double PlainDecodeTokensPerSecond,
    double JsonDecodeTokensPerSecond,
    double MaskMicrosecondsPerToken,
    int MaskedStates,
    double MaskBuildMillisecondsPerState)
{
    /// <summary>What a constrained token costs beyond a free one in batch-1 decode, from the two decode figures.</summary>
    public double DecodeOverheadMicrosecondsPerToken => 1e6 / JsonDecodeTokensPerSecond - 1e6 / PlainDecodeTokensPerSecond;
}

/// <summary>
/// The cost of structured output: batch-1 decode with sampling (T = 1) free and under <c>json_object</c>, on the same
/// model and seeds; the mask alone per token once its states are cached (applying the allowed set to a row of logits
/// and moving the cursor); and the one-off cost of a state's allowed set (a walk of the vocabulary trie).
/// </summary>
public static class StructuredOutputBenchmark
{
    public static StructuredOutputBenchmarkResult Run(CausalLanguageModel model, HfTokenizer tokenizer, int tokens = 256, int repeats = 3)
    {
        var clock = Stopwatch.StartNew();
        var vocabulary = TokenVocabulary.For(tokenizer);
        var vocabularyMs = clock.Elapsed.TotalMilliseconds;
        var automaton = vocabulary.AutomatonFor(JsonGrammar.AnyObjectGrammar);
        var prompt = tokenizer.Encode("Give the patient's record as a JSON object: ", addSpecialTokens: true);

        // The first constrained pass fills the automaton's caches and records where each JSON reply ended; the free
        // passes end their sequences at the same lengths, so both pay for the same prefills and cache positions.
        var lengths = new List<int>();
        Decode(model, prompt, tokens, automaton, lengths);
        double plain = 0, json = 0;
        for (var r = 0; r < repeats; r++)
        {
            plain = Math.Max(plain, Decode(model, prompt, tokens, null, lengths));
            json = Math.Max(json, Decode(model, prompt, tokens, automaton, null));
        }
        var maskMicroseconds = MaskOnly(automaton, model.Config.VocabSize, tokens, repeats);
        return new StructuredOutputBenchmarkResult(vocabulary.Size, vocabulary.TrieNodes, vocabularyMs, plain, json, maskMicroseconds,
            automaton.MaskedStates, automaton.MaskBuildTime.TotalMilliseconds / Math.Max(1, automaton.MaskedStates));
    }

    // Tokens per second of batch-1 sampled decode steps (prefills not counted). Constrained: a sequence that ends (a
    // complete JSON object) is replaced by a new one, and its length goes to `record`; free: sequence i has length lengths[i].
    private static double Decode(CausalLanguageModel model, IReadOnlyList<int> prompt, int tokens, TokenAutomaton? automaton, List<int>? lengths)
    {
        var maxLength = Math.Min(model.Config.MaxPositionEmbeddings, prompt.Count + tokens + 2);
        using var decoder = new BatchedDecoder(model, 1, maxLength);
        var generated = 0;
        var decoding = new Stopwatch();
        for (var sequence = 0; generated < tokens; sequence++)
        {
            var budget = tokens - generated;
            if (automaton is null && lengths is not null && sequence < lengths.Count) budget = Math.Min(budget, lengths[sequence]);
            var options = new SamplingOptions { Temperature = 1, Seed = sequence, MaxNewTokens = budget, StopTokenIds = automaton is null ? new HashSet<int>() : null };
            var first = decoder.Add(prompt, options, automaton?.Begin());
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

    // The mask and the cursor alone, on random logits, replaying the same walks so every state is cached: µs per token.
    private static double MaskOnly(TokenAutomaton automaton, int vocab, int tokens, int repeats)
    {
        var random = new Random(7);
        var noise = new float[vocab * 4];
        for (var i = 0; i < noise.Length; i++) noise[i] = (float)random.NextDouble();
        var logits = new float[vocab];
        var best = double.MaxValue;
        for (var r = 0; r <= repeats; r++)
        {
            var cursor = automaton.Begin();
            var masking = new Stopwatch();
            for (var t = 0; t < tokens; t++)
            {
                noise.AsSpan(t % 4 * vocab, vocab).CopyTo(logits);
                masking.Start();
                cursor.Mask(logits);
                masking.Stop();
                var chosen = 0;
                for (var i = 1; i < vocab; i++) if (logits[i] > logits[chosen]) chosen = i;
                masking.Start();
                cursor.Accept(chosen);
                masking.Stop();
                if (cursor.Ended) cursor = automaton.Begin();
            }
            if (r > 0) best = Math.Min(best, masking.Elapsed.TotalMicroseconds / tokens); // pass 0 fills the caches
        }
        return best;
    }
}
