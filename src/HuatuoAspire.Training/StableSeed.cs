namespace HuatuoAspire.Training;

/// <summary>
/// Seeds derived from (seed, step, index…) that are the same in every process. <see cref="HashCode.Combine{T1,T2}"/>
/// is randomised per process, so a run resumed by a new trainer process would shuffle and sample differently from the
/// one it continues; this mixes the parts with SplitMix64 instead.
/// </summary>
public static class StableSeed
{
    public static int Combine(params ReadOnlySpan<long> parts)
    {
        var state = 0x9E3779B97F4A7C15UL;
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
