using HuatuoAspire.Dashboard.Services;
using HuatuoAspire.Evaluation;

namespace HuatuoAspire.Dashboard.UnitTests;

public sealed class BenchmarkAverageTests
{
    private static BenchmarkScore Score(string benchmark, int correct, int total) =>
        new(benchmark, total, correct, (double)correct / total, 0, 0, 0, 1, new Dictionary<string, int>(), null);

    [Fact]
    public void TheAverageWeighsEachBenchmarkAlikeAndThePooledFigureCountsEveryQuestion()
    {
        // 90 of 100 and 1 of 10: the papers' average is 50%, the pooled figure 91 of 110.
        var average = BenchmarkAverage.Of([Score("MedQA", 90, 100), Score("GPQA", 1, 10)])!;
        Assert.Equal((2, 0.5, 91, 110), (average.Benchmarks, average.MeanAccuracy, average.Correct, average.Total));
        Assert.Equal(91.0 / 110, average.PooledAccuracy, 12);
    }

    [Fact]
    public void OneBenchmarkHasNoAverageRow()
    {
        Assert.Null(BenchmarkAverage.Of([Score("MedQA", 1, 2)]));
        Assert.Null(BenchmarkAverage.Of([]));
    }
}
