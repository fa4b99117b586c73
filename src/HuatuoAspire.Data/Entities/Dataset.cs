namespace HuatuoAspire.Data.Entities;

/// <summary>A named collection of imported rows (for example "demo" or "medqa-train").</summary>
public sealed class Dataset
{
    public long Id { get; set; }
    public required string Name { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;

    public List<ImportRun> ImportRuns { get; set; } = [];
}

/// <summary>One `huatuo import` of one file into a dataset, with what it did and the rows it refused.</summary>
public sealed class ImportRun
{
    public long Id { get; set; }
    public long DatasetId { get; set; }
    public Dataset? Dataset { get; set; }

    public required string FileName { get; set; }
    /// <summary>Lower-case hex SHA-256 of the whole file: the same file imported twice is recognised.</summary>
    public required string FileSha256 { get; set; }
    public ImportFormat Format { get; set; }
    public bool Strict { get; set; }
    public ImportRunStatus Status { get; set; }

    public int RowsRead { get; set; }
    public int RowsSkipped { get; set; }
    /// <summary>Rows whose content hash was already present in the dataset (re-import).</summary>
    public int RowsAlreadyPresent { get; set; }
    public int QuestionsImported { get; set; }
    public int ProblemsImported { get; set; }
    public int TrajectoriesImported { get; set; }

    /// <summary>Malformed rows (file, line, reason); jsonb. Capped at <see cref="MaxStoredErrors"/>; RowsSkipped has the full count.</summary>
    public List<ImportRowError> Errors { get; set; } = [];

    public DateTime StartedAt { get; set; } = DateTime.UtcNow;
    public DateTime? FinishedAt { get; set; }
    public uint Version { get; set; }

    public const int MaxStoredErrors = 1000;
}

public sealed class ImportRowError
{
    public required string File { get; set; }
    public int Line { get; set; }
    public required string Reason { get; set; }

    public override string ToString() => $"{File}:{Line}: {Reason}";
}
