namespace HuatuoAspire.Training.Ppo;

/// <summary>Generalised advantage estimation over one response's tokens (the value after the last token is 0).</summary>
public static class Gae
{
    public static (float[] Advantages, float[] Returns) Compute(ReadOnlySpan<float> rewards, ReadOnlySpan<float> values, double gamma, double lambda)
    {
        if (rewards.Length != values.Length)
            throw new ArgumentException($"rewards has {rewards.Length} entries and values {values.Length}; they must match.");
        var n = rewards.Length;
        var advantages = new float[n];
        var returns = new float[n];
        double last = 0;
        for (var t = n - 1; t >= 0; t--)
        {
            var nextValue = t + 1 < n ? values[t + 1] : 0.0;
            var delta = rewards[t] + gamma * nextValue - values[t];
            last = delta + gamma * lambda * last;
            advantages[t] = (float)last;
            returns[t] = (float)(last + values[t]);
        }
        return (advantages, returns);
    }
}
