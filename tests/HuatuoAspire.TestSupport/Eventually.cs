using System.Diagnostics;
using System.Text.Json.Nodes;

namespace HuatuoAspire.TestSupport;

/// <summary>
/// Waits on an event by polling its condition until a deadline, never a fixed sleep. On timeout it fails with what was
/// awaited and the last value seen, e.g. "waited 60 s for the evaluation run to finish; last value: {...}".
/// </summary>
public static class Eventually
{
    private static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Reads a value until <paramref name="done"/> holds for it, and returns that value. <paramref name="detail"/> adds
    /// what else explains a timeout (a child process's output).
    /// </summary>
    public static async Task<T> ReachesAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan timeout, string what,
        TimeSpan? interval = null, Func<string>? detail = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await read();
            if (done(value)) return value;
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"waited {timeout.TotalSeconds:0.#} s for {what}; last value: {Describe(value)}"
                    + (detail is null ? "" : "\n" + detail()));
            await Task.Delay(interval ?? DefaultInterval);
        }
    }

    /// <summary>Polls a condition on state held in this process (a counter, a scheduler's queue) until it is true.</summary>
    public static Task TrueAsync(Func<bool> condition, TimeSpan timeout, string what, TimeSpan? interval = null, Func<string>? detail = null) =>
        ReachesAsync(() => Task.FromResult(condition()), held => held, timeout, what, interval, detail);

    private static string Describe<T>(T value) => value switch
    {
        null => "null",
        JsonNode json => json.ToJsonString(),
        _ => value.ToString() ?? "",
    };
}
