namespace HuatuoAspire.Training.Optimization;

/// <summary>
/// Linear warm-up to the peak learning rate over the first <see cref="WarmupSteps"/> steps, then a decay to zero that
/// each schedule names. The warm-up counts from step + 1, so the first step learns. A pure function of the step, so a
/// resumed run needs only the step; without steps (TotalSteps 0) the rate stays at its peak.
/// </summary>
public abstract record LearningRateSchedule(double PeakLearningRate, int TotalSteps, double WarmupRatio)
{
    public int WarmupSteps => (int)Math.Ceiling(TotalSteps * WarmupRatio);

    /// <summary>The learning rate used for optimizer step <paramref name="step"/> (0-based).</summary>
    public double At(int step)
    {
        if (TotalSteps <= 0) return PeakLearningRate;
        var warmup = WarmupSteps;
        if (step < warmup) return PeakLearningRate * (step + 1) / warmup;
        return PeakLearningRate * DecayFactor(step, warmup);
    }

    /// <summary>The fraction of the peak at <paramref name="step"/>, a step after the warm-up of <paramref name="warmup"/> steps.</summary>
    protected abstract double DecayFactor(int step, int warmup);
}
