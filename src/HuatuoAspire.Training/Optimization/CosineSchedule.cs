namespace HuatuoAspire.Training.Optimization;

/// <summary>
/// Linear warm-up to the peak learning rate, then cosine decay to zero (transformers'
/// <c>get_cosine_schedule_with_warmup</c>).
/// </summary>
public sealed record CosineSchedule(double PeakLearningRate, int TotalSteps, double WarmupRatio)
    : LearningRateSchedule(PeakLearningRate, TotalSteps, WarmupRatio)
{
    protected override double DecayFactor(int step, int warmup)
    {
        var progress = (double)(step - warmup) / Math.Max(1, TotalSteps - warmup);
        return 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress)));
    }
}
