namespace HuatuoAspire.Domain.Verification;

/// <summary>The kinds of answer verifier a stage can be given.</summary>
public enum VerifierKind
{
    /// <summary>The <see cref="RuleVerifier"/>: no model, no LLM.</summary>
    Rule,
    /// <summary>An LLM judge on a named OpenAI-compatible endpoint (or the default one).</summary>
    Llm,
    /// <summary>A sequence-classifier reward model (a Hugging Face folder or a blob prefix).</summary>
    Classifier,
}
