namespace HuatuoAspire.Training.Optimization;

/// <summary>
/// Linear warm-up to the peak learning rate, then linear decay to zero (transformers'
/// <c>get_linear_schedule_with_warmup</c>, the default <c>lr_scheduler_type</c> the reference RL script runs with; TRL's
/// PPO steps it once per rollout batch).
/// </summary>
public sealed record LinearSchedule(double PeakLearningRate, int TotalSteps, double WarmupRatio)
    : LearningRateSchedule(PeakLearningRate, TotalSteps, WarmupRatio)
{
    protected override double DecayFactor(int step, int warmup) => Math.Max(0, (double)(TotalSteps - step) / Math.Max(1, TotalSteps - warmup));
}
