namespace HuatuoAspire.Domain.Verification;

/// <summary>A verdict with the reason a person can read; LLM verdicts also keep the prompt and the raw reply.</summary>
public sealed record VerificationResult(bool IsCorrect, string Reason, string Verifier)
{
    public string? Prompt { get; init; }
    public string? RawOutput { get; init; }
    public LlmUsage? Usage { get; init; }
}
