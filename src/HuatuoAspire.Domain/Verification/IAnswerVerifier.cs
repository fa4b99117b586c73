namespace HuatuoAspire.Domain.Verification;

/// <summary>Judges whether a model's answer agrees with a reference answer. Shared by the search and the PPO reward.</summary>
public interface IAnswerVerifier
{
    /// <summary>Short name recorded with every verdict ("rule", "llm-judge").</summary>
    string Name { get; }

    Task<VerificationResult> VerifyAsync(string response, string reference, CancellationToken cancellationToken = default);
}

/// <summary>A verdict with the reason a person can read; LLM verdicts also keep the prompt and the raw reply.</summary>
public sealed record VerificationResult(bool IsCorrect, string Reason, string Verifier)
{
    public string? Prompt { get; init; }
    public string? RawOutput { get; init; }
    public LlmUsage? Usage { get; init; }
}
