using HuatuoAspire.Domain.Search;

namespace HuatuoAspire.Data.Entities;

/// <summary>
/// The reasoning-path search for one problem (or an imported SFT record): its attempts and steps, and the final
/// Complex_CoT and Response that become SFT data.
/// </summary>
public sealed class ReasoningTrajectory
{
    public long Id { get; set; }
    /// <summary>The problem searched; null for SFT records imported without a verifiable problem.</summary>
    public long? ProblemId { get; set; }
    public VerifiableProblem? Problem { get; set; }
    /// <summary>Set for imported records (idempotent re-import); null for trajectories produced by search.</summary>
    public long? DatasetId { get; set; }
    public Dataset? Dataset { get; set; }

    /// <summary>The SFT "Question" (the open-ended question the CoT answers).</summary>
    public required string Question { get; set; }
    public string? ComplexCot { get; set; }
    public string? Response { get; set; }
    /// <summary>True when the search was finally given the ground-truth answer as a hint (HuatuoGPT-o1's fallback).</summary>
    public bool LabelGuided { get; set; }
    public TrajectoryStatus Status { get; set; }
    public string? ContentSha256 { get; set; }

    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
    public DateTime UpdatedAt { get; set; } = DateTime.UtcNow;
    public uint Version { get; set; }

    public List<SearchAttempt> Attempts { get; set; } = [];
}

/// <summary>One independent search attempt (the paper retries up to N times), made of strategy steps.</summary>
public sealed class SearchAttempt
{
    public long Id { get; set; }
    public long TrajectoryId { get; set; }
    public ReasoningTrajectory? Trajectory { get; set; }
    public int AttemptIndex { get; set; }
    public bool Succeeded { get; set; }
    public DateTime StartedAt { get; set; } = DateTime.UtcNow;

    public List<SearchStep> Steps { get; set; } = [];
}

public sealed class SearchStep
{
    public long Id { get; set; }
    public long AttemptId { get; set; }
    public SearchAttempt? Attempt { get; set; }
    public int StepIndex { get; set; }
    public SearchStrategy Strategy { get; set; }
    public required string Prompt { get; set; }
    public required string RawOutput { get; set; }
    /// <summary>The CoT actions parsed from the raw output (jsonb, with the property names Action, Title, Content).</summary>
    public List<CotStep> ParsedSteps { get; set; } = [];
    public VerifierVerdict? Verdict { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
}
