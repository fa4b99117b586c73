using System.Diagnostics;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>Wall-clock figures of one streamed answer.</summary>
public sealed class AnswerTiming
{
    private readonly long _started = Stopwatch.GetTimestamp();
    public TimeSpan? FirstToken { get; private set; }
    public TimeSpan? Total { get; private set; }

    public void Token() => FirstToken ??= Stopwatch.GetElapsedTime(_started);
    public void Done() => Total = Stopwatch.GetElapsedTime(_started);
}
