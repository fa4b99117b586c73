using System.Diagnostics;
using System.Text.Json;
using HuatuoAspire.Model.StructuredOutput;
using HuatuoAspire.Model.UnitTests.Tokenization;
using HuatuoAspire.Model.Tokenization;
using Xunit.Abstractions;

namespace HuatuoAspire.Model.UnitTests.StructuredOutput;

public sealed class TokenAutomatonTests(ITestOutputHelper output)
{
    private static JsonGrammar Schema(string schema) => JsonSchemaCompiler.Compile(JsonDocument.Parse(schema).RootElement);

    [Theory]
    [InlineData(TestSchemas.ChainOfThought)]
    [InlineData(TestSchemas.EveryKind)]
    public void RandomWalksOverTheByteVocabularyAlwaysEndInSchemaValidJson(string schema)
    {
        var tokenizer = TokenizerFixtures.Byte;
        var automaton = TokenVocabulary.For(tokenizer).AutomatonFor(Schema(schema));
        for (var seed = 0; seed < 40; seed++)
        {
            var (text, ended, _) = TokenWalk.Run(tokenizer, automaton, seed);
            Assert.True(ended, $"seed {seed} did not end: {text}");
            Assert.Null(TestSchemas.Problem(schema, text));
        }
    }

    [Theory]
    [InlineData(TestSchemas.ChainOfThought, 120)]
    [InlineData(TestSchemas.ChainOfThought, 700)]
    [InlineData(TestSchemas.EveryKind, 300)]
    public void AModelThatNeverChoosesToCloseStillGivesSchemaValidJsonWithinItsTokenBudget(string schema, int budget)
    {
        var tokenizer = TokenizerFixtures.Byte;
        var automaton = TokenVocabulary.For(tokenizer).AutomatonFor(Schema(schema));
        for (var seed = 0; seed < 10; seed++)
        {
            var (text, _, tokens) = TokenWalk.Run(tokenizer, automaton, seed, maxTokens: budget, closesByItself: false, cursorKnowsTheBudget: true);
            Assert.True(tokens <= budget, $"seed {seed}: {tokens} tokens");
            Assert.Null(TestSchemas.Problem(schema, text));
        }
        // A cursor that does not know the budget lets the same walk run out inside its first string: cut, not JSON.
        var (cut, ended, _) = TokenWalk.Run(tokenizer, automaton, seed: 0, maxTokens: budget, closesByItself: false);
        Assert.False(ended);
        Assert.NotNull(TestSchemas.Problem(schema, cut));
    }

    [Fact]
    public void RandomWalksUnderJsonObjectAlwaysEndInAJsonObject()
    {
        var tokenizer = TokenizerFixtures.Byte;
        var automaton = TokenVocabulary.For(tokenizer).AutomatonFor(JsonGrammar.AnyObjectGrammar);
        for (var seed = 0; seed < 40; seed++)
        {
            var (text, ended, _) = TokenWalk.Run(tokenizer, automaton, seed);
            Assert.True(ended, $"seed {seed} did not end: {text}");
            using var document = JsonDocument.Parse(text);
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        }
    }

    [Fact]
    public void TheLlama31VocabularyOf128kTokensGivesValidJsonAndItsMasksAreComputedOncePerState()
    {
        var tokenizer = TokenizerFixtures.Llama;
        var clock = Stopwatch.StartNew();
        var vocabulary = TokenVocabulary.For(tokenizer);
        output.WriteLine($"vocabulary of {vocabulary.Size:N0} tokens, trie of {vocabulary.TrieNodes:N0} nodes built in {clock.ElapsedMilliseconds} ms");
        Assert.True(vocabulary.Size > 128_000);
        // <|eot_id|> and <|end_of_text|> end a reply; no other special token can appear in it.
        Assert.Contains(tokenizer.TokenToId("<|eot_id|>")!.Value, vocabulary.EndOfSequenceIds.Union([tokenizer.TokenToId("<|end_of_text|>")!.Value]));

        foreach (var (name, grammar, schema) in new[]
                 {
                     ("json_object", JsonGrammar.AnyObjectGrammar, (string?)null),
                     ("chain of thought", Schema(TestSchemas.ChainOfThought), TestSchemas.ChainOfThought),
                     ("every kind", Schema(TestSchemas.EveryKind), TestSchemas.EveryKind),
                 })
        {
            var automaton = vocabulary.AutomatonFor(grammar);
            Assert.Same(automaton, vocabulary.AutomatonFor(grammar)); // built once per schema
            clock.Restart();
            var tokens = 0;
            for (var seed = 0; seed < 8; seed++)
            {
                var (text, ended, count) = TokenWalk.Run(tokenizer, automaton, seed);
                tokens += count;
                Assert.True(ended, $"{name}, seed {seed} did not end: {text}");
                if (schema is null) Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(text).RootElement.ValueKind);
                else Assert.Null(TestSchemas.Problem(schema, text));
                // The model's own tokenization of the text needs no token the automaton refuses.
                Assert.NotEqual(JsonByteAutomaton.Dead, Replay(automaton, tokenizer.Encode(text, addSpecialTokens: false)));
            }
            var masked = automaton.MaskedStates;
            output.WriteLine($"{name}: {tokens} tokens in {clock.ElapsedMilliseconds} ms, {masked} states masked in {automaton.MaskBuildTime.TotalMilliseconds:F0} ms");
            // A second pass over the same walks reaches no new state: the masks are cached.
            for (var seed = 0; seed < 8; seed++) TokenWalk.Run(tokenizer, automaton, seed);
            Assert.Equal(masked, automaton.MaskedStates);
        }
    }

    private static int Replay(TokenAutomaton automaton, IReadOnlyList<int> ids)
    {
        var state = 0;
        foreach (var id in ids)
        {
            var allowed = automaton.Allowed(state);
            if ((allowed[id >> 6] & (1UL << id)) == 0) return JsonByteAutomaton.Dead;
            state = automaton.Next(state, id);
        }
        return state;
    }

    [Fact]
    public void EndOfSequenceIsAllowedOnlyWhereTheValueIsComplete()
    {
        var tokenizer = TokenizerFixtures.Byte;
        var automaton = TokenVocabulary.For(tokenizer).AutomatonFor(Schema("""{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}"""));
        var eos = automaton.Vocabulary.EndOfSequenceIds.First();
        var state = 0;
        foreach (var b in "{\"a\":12"u8.ToArray())
        {
            Assert.Equal(0UL, automaton.Allowed(state)[eos >> 6] & (1UL << eos));
            state = automaton.Next(state, b);
        }
        state = automaton.Next(state, '}');
        var allowed = automaton.Allowed(state);
        Assert.NotEqual(0UL, allowed[eos >> 6] & (1UL << eos));
        // Once complete, nothing but the end may follow.
        Assert.Equal(automaton.Vocabulary.EndOfSequenceIds.Count, allowed.Sum(w => System.Numerics.BitOperations.PopCount(w)));
    }
}
