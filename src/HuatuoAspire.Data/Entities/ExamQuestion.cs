namespace HuatuoAspire.Data.Entities;

/// <summary>A closed-set medical exam question (MedQA / MedMCQA style), the raw material of verifiable problems.</summary>
public sealed class ExamQuestion
{
    public long Id { get; set; }
    public long DatasetId { get; set; }
    public Dataset? Dataset { get; set; }

    public required string Question { get; set; }
    /// <summary>Option letter → text (jsonb), e.g. {"A": "...", "B": "..."}.</summary>
    public required Dictionary<string, string> Options { get; set; }
    /// <summary>The correct option's letter, e.g. "D".</summary>
    public required string AnswerIdx { get; set; }
    public required string Answer { get; set; }
    /// <summary>Where the row came from, e.g. "medqa" or the import file's name.</summary>
    public required string Source { get; set; }
    /// <summary>Free-form extra fields of the source record (meta_info, subject_name, exp, ...), as JSON text (jsonb).</summary>
    public string? Meta { get; set; }
    /// <summary>Lower-case hex SHA-256 of the canonical row content; unique per dataset, makes re-import idempotent.</summary>
    public required string ContentSha256 { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
}
