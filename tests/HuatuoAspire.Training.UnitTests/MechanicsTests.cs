using HuatuoAspire.Domain.Reward;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Domain;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Optimization;
using HuatuoAspire.Training.Ppo;
using HuatuoAspire.Training.Synthetic;

namespace HuatuoAspire.Training.UnitTests;

public sealed class MechanicsTests
{
    [Fact]
    public void GaeMatchesHandComputedValues()
    {
        // rewards r = [0, 0, 1], values v = [0.5, 0.2, 0.4], gamma 1, lambda 0.95:
        // d2 = 1 - 0.4 = 0.6;  d1 = 0 + 0.4 - 0.2 = 0.2;  d0 = 0 + 0.2 - 0.5 = -0.3
        // A2 = 0.6;  A1 = 0.2 + 0.95*0.6 = 0.77;  A0 = -0.3 + 0.95*0.77 = 0.4315
        var (adv, ret) = Gae.Compute([0f, 0f, 1f], [0.5f, 0.2f, 0.4f], 1.0, 0.95);
        Assert.Equal([0.4315f, 0.77f, 0.6f], adv.Select(a => MathF.Round(a, 4)));
        Assert.Equal([0.9315f, 0.97f, 1.0f], ret.Select(r => MathF.Round(r, 4)));
    }

    [Fact]
    public void GaeWithDiscountAndNoBootstrapBeyondTheEnd()
    {
        // gamma 0.5, lambda 1: A_t = sum_k 0.5^k r_{t+k} - v_t.
        var (adv, _) = Gae.Compute([1f, 2f], [0f, 1f], 0.5, 1.0);
        Assert.Equal(1 + 0.5f * 2, adv[0], 5);
        Assert.Equal(2 - 1f, adv[1], 5);
    }

    [Fact]
    public void ReasoningFormatRoundTrips()
    {
        var text = ReasoningFormat.Compose("step one", "answer");
        Assert.Equal("## Thinking\n\nstep one\n\n## Final Response\n\nanswer", text);
        Assert.Equal(new ReasoningSections("step one", "answer"), ReasoningFormat.Parse(text));
    }

    [Fact]
    public void CosineScheduleWarmsUpThenDecaysToZero()
    {
        var s = new CosineSchedule(1.0, 100, 0.1);
        Assert.Equal(10, s.WarmupSteps);
        Assert.Equal(0.1, s.At(0), 9);
        Assert.Equal(1.0, s.At(9), 9);
        Assert.Equal(0.5, s.At(10 + 45), 9);
        Assert.True(s.At(99) < 0.001);
        Assert.True(s.At(30) > s.At(60));
    }

    [Fact]
    public void SyntheticTasksAreSeededWithDisjointSplitsAndCorrectSolutions()
    {
        var (train, heldOut) = MedicalCalculationTasks.Splits(500, 50, seed: 3);
        var (train2, heldOut2) = MedicalCalculationTasks.Splits(500, 50, seed: 3);
        Assert.Equal(train.Select(p => p.Question), train2.Select(p => p.Question));
        Assert.Equal(heldOut.Select(p => p.Question), heldOut2.Select(p => p.Question));
        Assert.Empty(heldOut.Select(p => p.Question).Intersect(train.Select(p => p.Question)));
        Assert.Equal(MedicalCalculationTasks.Kinds.Order(), train.Select(p => p.Kind).Distinct().Order());
        var verifier = new RuleVerifier();
        foreach (var p in train)
        {
            // The worked solution ends in the answer, and the verifier accepts the final response.
            Assert.Contains(p.GroundTruth.Split(' ')[0], p.Thinking);
            Assert.True(verifier.Verify(p.FinalResponse, p.GroundTruth).IsCorrect, p.Question);
        }
        var bmi = MedicalCalculationTasks.Create("bmi", new Random(1));
        var height = double.Parse(bmi.Question.Split(' ')[7], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(Math.Round(double.Parse(bmi.Question.Split(' ')[3]) / Math.Round(height * height, 2), 1), bmi.Value);
    }

    [Fact]
    public void FlawedSolutionsCarryATenFoldUnitErrorAndKeepTheGroundTruth()
    {
        var (train, _) = MedicalCalculationTasks.Splits(400, 0, seed: 5);
        var verifier = new RuleVerifier();
        var all = MedicalCalculationTasks.WithFlawedSolutions(train, 1.0, seed: 1);
        for (var i = 0; i < train.Count; i++)
        {
            var (clean, flawed) = (train[i], all[i]);
            Assert.Equal(clean.GroundTruth, flawed.GroundTruth);
            Assert.Equal(clean.Question, flawed.Question);
            if (clean.Kind != "convert")
            {
                Assert.Same(clean, flawed);
                continue;
            }
            Assert.True(flawed.IsFlawed);
            // Correct arithmetic on the wrong factor: the answer is off by ten, and the verifier says so.
            var answer = double.Parse(flawed.FinalResponse.Split(' ')[3], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(clean.GroundTruth.EndsWith(" mg", StringComparison.Ordinal) ? clean.Value / 10 : clean.Value * 10, answer, 6);
            Assert.Contains(flawed.FinalResponse.Split(' ')[3].TrimEnd('.'), flawed.Thinking);
            Assert.False(verifier.Verify(flawed.FinalResponse, flawed.GroundTruth).IsCorrect, flawed.FinalResponse);
        }

        Assert.Equal(train, MedicalCalculationTasks.WithFlawedSolutions(train, 0, seed: 1));
        var some = MedicalCalculationTasks.WithFlawedSolutions(train, 0.5, seed: 1);
        Assert.Equal(some, MedicalCalculationTasks.WithFlawedSolutions(train, 0.5, seed: 1));
        var converts = train.Count(p => p.Kind == "convert");
        Assert.InRange(some.Count(p => p.IsFlawed), converts * 0.35, converts * 0.65);
        Assert.Throws<ArgumentOutOfRangeException>(() => MedicalCalculationTasks.WithFlawedSolutions(train, 1.5, seed: 1));
    }

    [Fact]
    public void BadDataFilesSayWhatAndWhere()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sft-{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(path, "{\"Question\":\"q\",\"Complex_CoT\":\"c\",\"Response\":\"r\"}\n{\"Question\":\"q\",\"Response\":\"r\"}\n");
        try
        {
            var e = Assert.Throws<TrainingDataException>(() => TrainingDataFile.ReadSft(path));
            Assert.Contains("line 2", e.Message);
            Assert.Contains("Complex_CoT", e.Message);
            File.WriteAllText(path, "[{\"Open-ended Verifiable Question\":\"q\",\"Ground-True Answer\":\"a\"}]");
            Assert.Equal([new PpoRecord("q", "a")], TrainingDataFile.ReadPpo(path));
        }
        finally { File.Delete(path); }
    }
}
