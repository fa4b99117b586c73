using System.Text;
using HuatuoAspire.Model.StructuredOutput;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Model.UnitTests.StructuredOutput;

/// <summary>
/// A stand-in model for the automaton tests: at each step it draws one of the tokens the constraint leaves, with weights
/// that favour closing quotes and brackets and the end token (so that even over a 128k vocabulary the text ends), or,
/// as a model that never chooses to stop, with no weight on them at all.
/// </summary>
public static class TokenWalk
{
    public static (string Text, bool Ended, int Tokens) Run(HfTokenizer tokenizer, TokenAutomaton automaton, int seed, int maxTokens = 4000,
        bool closesByItself = true, bool cursorKnowsTheBudget = false)
    {
        var random = new Random(seed);
        var weights = closesByItself ? Weights(tokenizer, automaton.Vocabulary) : NeverClosing(tokenizer, automaton.Vocabulary);
        var constraint = cursorKnowsTheBudget ? automaton.Begin(maxTokens) : automaton.Begin();
        var logits = new float[tokenizer.VocabSize];
        var bytes = new List<byte>();
        var allowed = new List<(int Id, double Weight)>();
        for (var step = 0; step < maxTokens; step++)
        {
            Array.Fill(logits, 0f);
            constraint.Mask(logits);
            allowed.Clear();
            for (var id = 0; id < logits.Length; id++)
            {
                if (float.IsNegativeInfinity(logits[id])) continue;
                allowed.Add((id, weights[id]));
            }
            Assert.NotEmpty(allowed);
            var draw = random.NextDouble() * allowed.Sum(a => a.Weight);
            var chosen = allowed[^1].Id;
            foreach (var (id, weight) in allowed)
            {
                draw -= weight;
                if (draw < 0) { chosen = id; break; }
            }
            constraint.Accept(chosen);
            if (constraint.Ended) return (Encoding.UTF8.GetString(bytes.ToArray()), true, step + 1);
            bytes.AddRange(tokenizer.TokenBytes(chosen));
        }
        return (Encoding.UTF8.GetString(bytes.ToArray()), false, maxTokens);
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<TokenVocabulary, double[]> WeightTables = new();
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<TokenVocabulary, double[]> NeverClosingTables = new();

    // A zero weight is still drawn when it is the only token allowed (the last one allowed is the fallback).
    private static double[] NeverClosing(HfTokenizer tokenizer, TokenVocabulary vocabulary) => NeverClosingTables.GetValue(vocabulary, v =>
    {
        var weights = new double[tokenizer.VocabSize];
        for (var id = 0; id < weights.Length; id++)
        {
            if (v.EndOfSequenceIds.Contains(id) || tokenizer.IdToToken(id) is null) weights[id] = 0;
            else weights[id] = tokenizer.TokenBytes(id).AsSpan().IndexOfAny("\"]}"u8) >= 0 ? 0 : 1;
        }
        return weights;
    });

    private static double[] Weights(HfTokenizer tokenizer, TokenVocabulary vocabulary) => WeightTables.GetValue(vocabulary, v =>
    {
        var weights = new double[tokenizer.VocabSize];
        for (var id = 0; id < weights.Length; id++)
        {
            if (v.EndOfSequenceIds.Contains(id)) weights[id] = 50;
            else if (tokenizer.IdToToken(id) is null) weights[id] = 0;
            else weights[id] = tokenizer.TokenBytes(id).AsSpan().IndexOfAny("\"]}"u8) >= 0 ? 20 : 1;
        }
        return weights;
    });
}
