namespace HuatuoAspire.Data.Entities;

/// <summary>A construction or search run over many problems; workers poll CancellationRequested between items.</summary>
public sealed class PipelineRun
{
    public long Id { get; set; }
    public PipelineRunKind Kind { get; set; }
    /// <summary>Run parameters (models, limits, dataset) as JSON text (jsonb).</summary>
    public required string Parameters { get; set; }
    public RunStatus Status { get; set; }
    public int ItemsTotal { get; set; }
    public int ItemsDone { get; set; }
    public int ItemsSucceeded { get; set; }
    public int ItemsFailed { get; set; }
    public bool CancellationRequested { get; set; }
    public string? Error { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public uint Version { get; set; }
}

public sealed class TrainingRun
{
    public long Id { get; set; }
    public TrainingRunKind Kind { get; set; }
    public required string Name { get; set; }
    /// <summary>The full training configuration as JSON text (jsonb).</summary>
    public required string Config { get; set; }
    public RunStatus Status { get; set; }
    public bool CancellationRequested { get; set; }
    public string? Error { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public uint Version { get; set; }

    public List<TrainingMetric> Metrics { get; set; } = [];
    public List<Checkpoint> Checkpoints { get; set; } = [];
}

/// <summary>One scalar of the metrics time series: (run, step, name) → value.</summary>
public sealed class TrainingMetric
{
    public long Id { get; set; }
    public long TrainingRunId { get; set; }
    public int Step { get; set; }
    public required string Name { get; set; }
    public double Value { get; set; }
    public DateTime RecordedAt { get; set; } = DateTime.UtcNow;
}

/// <summary>A saved model folder or file in the blob store.</summary>
public sealed class Checkpoint
{
    public long Id { get; set; }
    public long TrainingRunId { get; set; }
    public TrainingRun? TrainingRun { get; set; }
    public int Step { get; set; }
    /// <summary>Blob name, or blob prefix for a folder checkpoint, inside the "huatuo" container.</summary>
    public required string BlobName { get; set; }
    public long SizeBytes { get; set; }
    public required string Sha256 { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
}

/// <summary>
/// One benchmark of an evaluation. Runs started as a job belong to a parent <see cref="PipelineRun"/> of kind
/// Evaluation (its parameters and progress counters); `huatuo eval` runs have none.
/// </summary>
public sealed class EvaluationRun
{
    public long Id { get; set; }
    public long? PipelineRunId { get; set; }
    public PipelineRun? PipelineRun { get; set; }
    public required string Benchmark { get; set; }
    public required string Model { get; set; }
    public RunStatus Status { get; set; }
    public int Total { get; set; }
    public int Correct { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
    public DateTime? FinishedAt { get; set; }
    public uint Version { get; set; }

    public List<EvaluationResult> Results { get; set; } = [];
}

public sealed class EvaluationResult
{
    public long Id { get; set; }
    public long EvaluationRunId { get; set; }
    public EvaluationRun? EvaluationRun { get; set; }
    /// <summary>The question's id within the benchmark (its index or source id).</summary>
    public required string QuestionKey { get; set; }
    public required string Question { get; set; }
    public required Dictionary<string, string> Options { get; set; }
    public required string AnswerIdx { get; set; }
    public required string Prompt { get; set; }
    public required string Output { get; set; }
    /// <summary>The option letter extracted from the output; null when none could be found.</summary>
    public string? ExtractedLetter { get; set; }
    public bool Correct { get; set; }
    /// <summary>Which extraction rule found the letter (AnswerIs, StandaloneLetter, OptionText, MostSimilarOption; None).</summary>
    public string? ExtractionRule { get; set; }
    /// <summary>Why the endpoint gave no answer (after its retries); such a question counts as wrong and is asked again on a re-run.</summary>
    public string? Error { get; set; }
}
