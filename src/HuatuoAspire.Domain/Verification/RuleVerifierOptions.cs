namespace HuatuoAspire.Domain.Verification;

public sealed record RuleVerifierOptions
{
    /// <summary>Relative tolerance for numeric answers after unit conversion (0.01 = 1 %).</summary>
    public double RelativeTolerance { get; init; } = 0.01;

    /// <summary>Minimum token-set overlap: Dice for answer-sized responses, recall of the reference for prose.</summary>
    public double OverlapThreshold { get; init; } = 0.75;

    /// <summary>
    /// A response with at most this many content words more than the reference is an answer phrase and is scored
    /// with Dice, so that "pulmonary hypertension" does not match "hypertension"; longer responses are prose and
    /// are scored by how much of the reference they contain.
    /// </summary>
    public int AnswerPhraseSlack { get; init; } = 2;

    /// <summary>
    /// An answer phrase that lacks a reference word and has a word of its own instead is a different answer
    /// ("Lateral meniscus tear" for "Medial meniscus tear", another drug in the same regimen), whatever the overlap.
    /// </summary>
    public bool RejectSubstitutions { get; init; } = true;

    /// <summary>Words of at least this length may differ by one edit (typos such as "aeroginosa").</summary>
    public int TypoMinimumLength { get; init; } = 7;
}
