namespace HuatuoAspire.Evaluation;

/// <summary>The Wilson score interval for a proportion: sound at small n and near 0 or 1, unlike the normal approximation.</summary>
public static class WilsonInterval
{
    public const double Z95 = 1.959963984540054;

    public static (double Low, double High) Compute(int successes, int total, double z = Z95)
    {
        if (total <= 0) return (0, 0);
        if (successes < 0 || successes > total) throw new ArgumentOutOfRangeException(nameof(successes), $"successes {successes} not within 0..{total}.");
        double n = total, p = successes / n, z2 = z * z;
        var center = (p + z2 / (2 * n)) / (1 + z2 / n);
        var half = z / (1 + z2 / n) * Math.Sqrt(p * (1 - p) / n + z2 / (4 * n * n));
        return (Math.Max(0, center - half), Math.Min(1, center + half));
    }
}
