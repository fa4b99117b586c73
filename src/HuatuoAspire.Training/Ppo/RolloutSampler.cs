using HuatuoAspire.Model;
using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Training.Ppo;

/// <summary>One sampled response with the log-probabilities recorded when each token was drawn.</summary>
public sealed record Rollout(int[] PromptIds, int[] ResponseIds, float[] LogProbs, string Text);

/// <summary>
/// Samples responses with the KV-cached batched decoder; each prompt has its own sampling seed, so the same seeds give
/// the same responses from the same weights. Log-probabilities are <c>log_softmax(logits / T)</c> at sampling time.
/// </summary>
public static class RolloutSampler
{
    public static IReadOnlyList<Rollout> Sample(CausalLanguageModel model, HfTokenizer tokenizer, IReadOnlyList<IReadOnlyList<int>> prompts,
        double temperature, int maxNewTokens, IReadOnlyList<int> seeds, int maxBatch = 32)
    {
        if (prompts.Count != seeds.Count) throw new ArgumentException("one seed per prompt is needed.");
        var results = new Rollout?[prompts.Count];
        var maxPrompt = prompts.Count == 0 ? 1 : prompts.Max(p => p.Count);
        using var decoder = new BatchedDecoder(model, Math.Max(1, Math.Min(maxBatch, prompts.Count)), maxPrompt + maxNewTokens + 1);
        var owners = new Dictionary<long, (int Index, List<int> Ids, List<float> LogProbs)>();
        var next = 0;
        while (next < prompts.Count || decoder.Active > 0)
        {
            while (next < prompts.Count && decoder.HasRoom)
            {
                var options = new SamplingOptions { Temperature = temperature, Seed = seeds[next], MaxNewTokens = maxNewTokens };
                var first = decoder.Add(prompts[next], options);
                var entry = (next, new List<int> { first.Token.TokenId }, new List<float> { first.Token.LogProb });
                if (first.Finished) Finish(entry); else owners[first.SequenceId] = entry;
                next++;
            }
            foreach (var token in decoder.Step())
            {
                var entry = owners[token.SequenceId];
                entry.Ids.Add(token.Token.TokenId);
                entry.LogProbs.Add(token.Token.LogProb);
                if (token.Finished) { owners.Remove(token.SequenceId); Finish(entry); }
            }
        }
        return results.Select(r => r!).ToList();

        void Finish((int Index, List<int> Ids, List<float> LogProbs) e) =>
            results[e.Index] = new Rollout([.. prompts[e.Index]], [.. e.Ids], [.. e.LogProbs], tokenizer.Decode(e.Ids, skipSpecialTokens: true));
    }
}
