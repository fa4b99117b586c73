namespace HuatuoAspire.Data.Entities;

// Every enum below is stored as its name (string column), so rows stay readable in psql and adding a member
// never renumbers existing data.

public enum ImportFormat { Demo, MedQa, MedMcqa, Sft }

public enum ImportRunStatus { Running, Completed, CompletedWithSkips, AlreadyImported, RolledBack, Failed }

public enum ProblemStatus
{
    /// <summary>Reformulated from an exam question, filters not yet run.</summary>
    Pending,
    /// <summary>Passed the difficulty and LLM filters: ready for reasoning-path search.</summary>
    Accepted,
    /// <summary>Removed by a filter (see the verdicts).</summary>
    Rejected,
    Searching,
    /// <summary>A verified reasoning trajectory exists.</summary>
    Solved,
    /// <summary>Search exhausted its attempts without a verified answer.</summary>
    Unsolved,
}

public enum LlmFilterVerdict { Pass, TooSimple, AmbiguousAnswer, NotReformulatable }

public enum VerifierVerdict { Correct, Incorrect, Unparseable }

public enum TrajectoryStatus { Searching, Succeeded, Failed, Imported }

public enum PipelineRunKind { Construction, Search, Evaluation }

public enum RunStatus
{
    Queued,
    Running,
    /// <summary>Every item succeeded.</summary>
    Succeeded,
    /// <summary>Finished; some items succeeded and some failed (pipeline runs).</summary>
    CompletedWithFailures,
    /// <summary>Nothing succeeded: every item failed, or the run itself could not go on.</summary>
    Failed,
    Cancelled,
    /// <summary>The run found no items to work on (the reason is in Error).</summary>
    NothingToDo,
}

public enum TrainingRunKind { Sft, Ppo }
