namespace HuatuoAspire.Model.Generation;

/// <summary>
/// Constrained decoding for one sequence (structured output): before each token is sampled the constraint masks the
/// logits of every token that may not come next, and it is then told which token was chosen. Stateful: one per sequence.
/// </summary>
public interface ITokenConstraint
{
    /// <summary>Sets the logits of the tokens that may not come next to -∞ (ids past the tokenizer's vocabulary too).</summary>
    void Mask(Span<float> logits);

    /// <summary>Moves past <paramref name="tokenId"/>, which must have been allowed by the last <see cref="Mask"/>.</summary>
    void Accept(int tokenId);

    /// <summary>True once an end-of-sequence token was accepted (allowed only where the output is complete).</summary>
    bool Ended { get; }
}
