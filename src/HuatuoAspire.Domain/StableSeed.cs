namespace HuatuoAspire.Domain;

/// <summary>
/// Derives seeds from a base seed and indices (epoch, step, item) with the same result in every process.
/// <see cref="HashCode.Combine{T1,T2}"/> is randomised per process, so seeds made with it change from run to run
/// and a job resumed in a new process would shuffle and sample differently from the run it continues.
/// </summary>
public static class StableSeed
{
    /// <summary>A non-negative 31-bit seed mixed from <paramref name="seed"/> and <paramref name="parts"/> (SplitMix64 steps).</summary>
    public static int Combine(long seed, params ReadOnlySpan<long> parts)
    {
        var state = Mix((ulong)seed ^ 0x9E3779B97F4A7C15UL);
        foreach (var part in parts) state = Mix(state ^ (ulong)part);
        return (int)(state >> 33);
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
