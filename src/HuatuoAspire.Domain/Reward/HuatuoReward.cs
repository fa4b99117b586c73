using HuatuoAspire.Domain.Verification;

namespace HuatuoAspire.Domain.Reward;

/// <summary>
/// The paper's reward: 0 unless the response has exactly one <c>## Thinking</c> and exactly one
/// <c>## Final Response</c>; then 1.0 when the verifier accepts the final response against the ground truth, else 0.1.
/// </summary>
public sealed class HuatuoReward(IAnswerVerifier verifier)
{
    public const double Correct = 1.0;
    public const double Incorrect = 0.1;
    public const double Malformed = 0.0;

    public IAnswerVerifier Verifier { get; } = verifier;

    public async Task<RewardResult> ScoreAsync(string response, string groundTruth, CancellationToken cancellationToken = default)
    {
        var sections = ReasoningFormat.Parse(response);
        if (sections is null) return new RewardResult(Malformed, false, false, "not exactly one '## Thinking' and one '## Final Response'");
        if (string.IsNullOrWhiteSpace(sections.FinalResponse)) return new RewardResult(Incorrect, true, false, "the final response is empty");
        var verdict = await Verifier.VerifyAsync(sections.FinalResponse, groundTruth, cancellationToken).ConfigureAwait(false);
        return verdict.IsCorrect
            ? new RewardResult(Correct, true, true, verdict.Reason)
            : new RewardResult(Incorrect, true, false, verdict.Reason);
    }
}
