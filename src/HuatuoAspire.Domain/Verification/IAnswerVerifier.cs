namespace HuatuoAspire.Domain.Verification;

/// <summary>Judges whether a model's answer agrees with a reference answer. Shared by the search and the PPO reward.</summary>
public interface IAnswerVerifier
{
    /// <summary>Short name recorded with every verdict ("rule", "llm-judge").</summary>
    string Name { get; }

    Task<VerificationResult> VerifyAsync(string response, string reference, CancellationToken cancellationToken = default);
}
