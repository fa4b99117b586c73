using HuatuoAspire.Dashboard.Services;

namespace HuatuoAspire.Dashboard.UnitTests;

public sealed class TrainingFiguresTests
{
    [Fact]
    public void PpoFiguresAreGroupedByScaleAndAnUnknownFigureGetsAChartOfItsOwn()
    {
        var groups = TrainingFigures.For(["policy_loss", "value_loss", "lr", "reward", "correct_fraction", "kl", "response_length", "tokens_per_s", "entropy"]);
        Assert.Equal(["loss", "lr", "reward", "kl", "response-length", "tokens-per-s", "entropy"], groups.Select(g => g.Id));
        Assert.Equal(["policy_loss", "value_loss"], groups[0].Figures);
        Assert.Equal(["reward", "correct_fraction"], groups[2].Figures);
        Assert.Equal("accuracy", TrainingFigures.Label("correct_fraction"));
    }

    [Fact]
    public void AnSftRunGetsNoPpoChart() =>
        Assert.Equal(["loss", "lr", "tokens-per-s"], TrainingFigures.For(["loss", "lr", "tokens_per_s", "grad_norm"]).Select(g => g.Id).Take(3));

    [Fact]
    public void SmoothingIsAnExponentialMovingAverageAndZeroLeavesThePoints()
    {
        MetricPoint[] points = [new(1, 1), new(2, 3), new(3, 3)];
        Assert.Same(points, TrainingFigures.Smooth(points, 0));
        Assert.Equal([new MetricPoint(1, 1), new MetricPoint(2, 2), new MetricPoint(3, 2.5)], TrainingFigures.Smooth(points, 0.5));
    }
}
