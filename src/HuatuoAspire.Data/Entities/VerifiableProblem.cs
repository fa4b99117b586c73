namespace HuatuoAspire.Data.Entities;

/// <summary>
/// An open-ended question with one objective ground-truth answer, reformulated from an exam question and kept only
/// when the filters say it is hard enough and unambiguous.
/// </summary>
public sealed class VerifiableProblem
{
    public long Id { get; set; }
    public long DatasetId { get; set; }
    public Dataset? Dataset { get; set; }

    /// <summary>Provenance: the exam question it was reformulated from (null when imported without one).</summary>
    public long? ExamQuestionId { get; set; }
    public ExamQuestion? ExamQuestion { get; set; }

    public required string OpenEndedQuestion { get; set; }
    public required string GroundTruthAnswer { get; set; }
    public ProblemStatus Status { get; set; }

    /// <summary>Difficulty filter: one entry per small model that tried the question (jsonb).</summary>
    public List<DifficultyFilterResult> DifficultyResults { get; set; } = [];
    public LlmFilterVerdict? LlmFilterVerdict { get; set; }
    /// <summary>Prompt and raw answer of every construction stage (reformulation, filters), in order (jsonb).</summary>
    public List<StageExchange> StageExchanges { get; set; } = [];

    public required string ContentSha256 { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
    public DateTime UpdatedAt { get; set; } = DateTime.UtcNow;
    /// <summary>PostgreSQL xmin: two workers updating the same problem cannot both win.</summary>
    public uint Version { get; set; }

    public List<ReasoningTrajectory> Trajectories { get; set; } = [];
}

public sealed class DifficultyFilterResult
{
    public required string Model { get; set; }
    public string? Answer { get; set; }
    public bool Correct { get; set; }
}

public sealed class StageExchange
{
    /// <summary>e.g. "reformulate", "llm-filter", "difficulty:qwen2.5-7b".</summary>
    public required string Stage { get; set; }
    public required string Prompt { get; set; }
    public required string RawAnswer { get; set; }
    public DateTime At { get; set; } = DateTime.UtcNow;
}
