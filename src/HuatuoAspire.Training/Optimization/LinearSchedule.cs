namespace HuatuoAspire.Training.Optimization;

/// <summary>
/// Linear warm-up to the peak learning rate, then linear decay to zero (transformers'
/// <c>get_linear_schedule_with_warmup</c>, the default <c>lr_scheduler_type</c> the reference RL script runs with; TRL's
/// PPO steps it once per rollout batch). Like <see cref="CosineSchedule"/> the warm-up counts from step + 1, so the
/// first step learns. A pure function of the step, so a resumed run needs only the step.
/// </summary>
public sealed record LinearSchedule(double PeakLearningRate, int TotalSteps, double WarmupRatio)
{
    public int WarmupSteps => (int)Math.Ceiling(TotalSteps * WarmupRatio);

    /// <summary>The learning rate used for step <paramref name="step"/> (0-based).</summary>
    public double At(int step)
    {
        if (TotalSteps <= 0) return PeakLearningRate;
        var warmup = WarmupSteps;
        if (step < warmup) return PeakLearningRate * (step + 1) / warmup;
        return PeakLearningRate * Math.Max(0, (double)(TotalSteps - step) / Math.Max(1, TotalSteps - warmup));
    }
}
