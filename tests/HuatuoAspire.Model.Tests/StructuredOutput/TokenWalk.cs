using System.Text;
using HuatuoAspire.Model.StructuredOutput;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Model.Tests.StructuredOutput;

/// <summary>
/// A stand-in model for the automaton tests: at each step it draws one of the tokens the constraint leaves, with weights
/// that favour closing quotes and brackets and the end token (so that even over a 128k vocabulary the text ends).
/// </summary>
public static class TokenWalk
{
    public static (string Text, bool Ended, int Tokens) Run(HfTokenizer tokenizer, TokenAutomaton automaton, int seed, int maxTokens = 4000)
    {
        var random = new Random(seed);
        var constraint = automaton.Begin();
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
                allowed.Add((id, Weight(tokenizer, automaton, id)));
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

    private static double Weight(HfTokenizer tokenizer, TokenAutomaton automaton, int id)
    {
        if (automaton.Vocabulary.EndOfSequenceIds.Contains(id)) return 50;
        var bytes = tokenizer.TokenBytes(id);
        return bytes.AsSpan().IndexOfAny("\"]}"u8) >= 0 ? 20 : 1;
    }
}
