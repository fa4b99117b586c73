using HuatuoAspire.Data.Entities;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>A run's status as the pages show it ("Completed with failures", not the enum's name).</summary>
public static class RunStatusText
{
    public static string Of(RunStatus status) => status switch
    {
        RunStatus.CompletedWithFailures => "Completed with failures",
        RunStatus.NothingToDo => "Nothing to do",
        _ => status.ToString(),
    };
}
