using System.Text.Json;
using HuatuoAspire.Model.StructuredOutput;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Model.UnitTests.Tokenization;

namespace HuatuoAspire.Model.UnitTests.StructuredOutput;

/// <summary>
/// The cursor's closing tail (the last <see cref="TokenAutomaton.ClosingHorizon"/> tokens of its budget) uses distances
/// computed once per state; these tests hold it to the definition, checked token by token: a token stays when the
/// value can still be completed after it within the tokens then left.
/// </summary>
public sealed class ClosingTailTests
{
    private static JsonGrammar Grammar(string? schema) =>
        schema is null ? JsonGrammar.AnyObjectGrammar : JsonSchemaCompiler.Compile(JsonDocument.Parse(schema).RootElement);

    [Theory]
    [InlineData(null, 20)]
    [InlineData(null, 90)]
    [InlineData(TestSchemas.ChainOfThought, 40)]
    [InlineData(TestSchemas.ChainOfThought, 200)]
    [InlineData(TestSchemas.EveryKind, 60)]
    [InlineData(TestSchemas.EveryKind, 130)]
    public void TheClosingTailOverTheByteVocabularyKeepsExactlyTheTokensTheTokenByTokenCheckKeeps(string? schema, int budget)
    {
        var automaton = TokenVocabulary.For(TokenizerFixtures.Byte).AutomatonFor(Grammar(schema));
        for (var seed = 0; seed < 12; seed++) Assert.Equal(0, CompareAlongARandomWalk(automaton, budget, seed));
    }

    [Theory]
    [InlineData(null, 24)]
    [InlineData(TestSchemas.ChainOfThought, 30)]
    public void TheClosingTailOverTheLlama31VocabularyKeepsExactlyTheTokensTheTokenByTokenCheckKeeps(string? schema, int budget)
    {
        var automaton = TokenVocabulary.For(TokenizerFixtures.Llama).AutomatonFor(Grammar(schema));
        for (var seed = 0; seed < 3; seed++) Assert.Equal(0, CompareAlongARandomWalk(automaton, budget, seed));
    }

    [Fact]
    public void ABudgetTooSmallForAnyValueStillGetsTheShortestCompletionsNextByte()
    {
        var automaton = TokenVocabulary.For(TokenizerFixtures.Byte).AutomatonFor(Grammar(TestSchemas.ChainOfThought));
        // {"CoT":[]} is 10 bytes: with 4 tokens nothing can close, and the cursor writes the completion's first bytes.
        var cursor = automaton.Begin(4);
        var logits = new float[automaton.Vocabulary.Size];
        var text = new List<byte>();
        for (var step = 0; step < 4; step++)
        {
            Array.Fill(logits, 0f);
            cursor.Mask(logits);
            var kept = Enumerable.Range(0, logits.Length).Where(i => !float.IsNegativeInfinity(logits[i])).ToList();
            Assert.Single(kept);
            cursor.Accept(kept[0]);
            text.Add((byte)kept[0]);
        }
        Assert.Equal("{\"Co", System.Text.Encoding.UTF8.GetString(text.ToArray()));
    }

    // Walks the automaton with random tokens (a third of the walks never choose a token that closes anything, so the
    // tail has to force the close), comparing each step's mask with the token-by-token definition; the count of
    // differing tokens over the walk.
    private static int CompareAlongARandomWalk(TokenAutomaton automaton, int budget, int seed)
    {
        var random = new Random(seed);
        var avoidClosing = seed % 3 == 0;
        var vocabulary = automaton.Vocabulary;
        var cursor = automaton.Begin(budget);
        var logits = new float[vocabulary.Size];
        var state = 0;
        var differences = 0;
        for (var accepted = 0; accepted < budget && !cursor.Ended; accepted++)
        {
            Array.Fill(logits, 0f);
            cursor.Mask(logits);
            var expected = Expected(automaton, state, budget - accepted);
            var kept = new List<int>();
            for (var id = 0; id < logits.Length; id++)
            {
                var isKept = !float.IsNegativeInfinity(logits[id]);
                if (isKept != expected[id]) differences++;
                if (isKept) kept.Add(id);
            }
            Assert.NotEmpty(kept);
            var preferred = avoidClosing
                ? kept.Where(id => vocabulary.EndOfSequenceIds.Contains(id) is false && automaton.Next(state, id) is var n && !automaton.IsAccepting(n)).ToList()
                : kept;
            var chosen = (preferred.Count > 0 ? preferred : kept)[random.Next(preferred.Count > 0 ? preferred.Count : kept.Count)];
            cursor.Accept(chosen);
            if (!vocabulary.EndOfSequenceIds.Contains(chosen)) state = automaton.Next(state, chosen);
        }
        return differences;
    }

    // The definition, one automaton walk per token.
    private static bool[] Expected(TokenAutomaton automaton, int state, int remaining)
    {
        var vocabulary = automaton.Vocabulary;
        var allowed = automaton.Allowed(state);
        var keep = new bool[vocabulary.Size];
        for (var id = 0; id < keep.Length; id++) keep[id] = (allowed[id >> 6] & (1UL << id)) != 0;
        if (remaining > TokenAutomaton.ClosingHorizon) return keep;
        var left = remaining - 1;
        var any = false;
        for (var id = 0; id < keep.Length; id++)
        {
            if (!keep[id]) continue;
            if (vocabulary.EndOfSequenceIds.Contains(id)) { any = true; continue; }
            keep[id] = automaton.ShortestCompletion(automaton.Next(state, id)).Distance <= left;
            any |= keep[id];
        }
        if (any) return keep;
        var (distance, first) = automaton.ShortestCompletion(state);
        if (distance is > 0 and < int.MaxValue && automaton.SingleByteToken(first) is var token and >= 0) keep[token] = true;
        return keep;
    }
}
