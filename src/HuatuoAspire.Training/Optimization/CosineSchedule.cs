namespace HuatuoAspire.Training.Optimization;

/// <summary>
/// Linear warm-up to the peak learning rate, then cosine decay to zero (transformers'
/// <c>get_cosine_schedule_with_warmup</c>). A pure function of the step, so a resumed run needs only the step.
/// </summary>
public sealed record CosineSchedule(double PeakLearningRate, int TotalSteps, double WarmupRatio)
{
    public int WarmupSteps => (int)Math.Ceiling(TotalSteps * WarmupRatio);

    /// <summary>The learning rate used for optimizer step <paramref name="step"/> (0-based).</summary>
    public double At(int step)
    {
        if (TotalSteps <= 0) return PeakLearningRate;
        var warmup = WarmupSteps;
        if (step < warmup) return PeakLearningRate * (step + 1) / warmup;
        var progress = (double)(step - warmup) / Math.Max(1, TotalSteps - warmup);
        return PeakLearningRate * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress)));
    }
}
