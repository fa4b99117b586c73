using HuatuoAspire.Domain.Reward;
using HuatuoAspire.Domain;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Sft;

namespace HuatuoAspire.Training.Ppo;

/// <summary>Held-out figures of a policy: mean reward, fraction the verifier accepts, fraction well formed.</summary>
public sealed record PolicyScore(double MeanReward, double Accuracy, double WellFormed, double MeanResponseTokens);

/// <summary>Samples one response per held-out question with fixed per-question seeds and scores it with the reward rule.</summary>
public static class PolicyEvaluation
{
    public static async Task<PolicyScore> ScoreAsync(CausalLanguageModel model, HfTokenizer tokenizer, IReadOnlyList<PpoRecord> records,
        HuatuoReward reward, double temperature, int maxNewTokens, int seed, CancellationToken cancellationToken = default)
    {
        var encoder = new SftExampleEncoder(tokenizer, int.MaxValue);
        var prompts = records.Select(r => encoder.EncodePrompt(r.Question)).ToList();
        model.eval();
        var rollouts = RolloutSampler.Sample(model, tokenizer, prompts, temperature, maxNewTokens,
            Enumerable.Range(0, records.Count).Select(i => StableSeed.Combine(seed, i)).ToList());
        var results = new List<RewardResult>(records.Count);
        for (var i = 0; i < records.Count; i++)
            results.Add(await reward.ScoreAsync(rollouts[i].Text, records[i].GroundTruth, cancellationToken).ConfigureAwait(false));
        return new PolicyScore(results.Average(r => r.Reward), results.Count(r => r.Correct) / (double)results.Count,
            results.Count(r => r.WellFormed) / (double)results.Count, rollouts.Average(r => r.ResponseIds.Length));
    }
}
