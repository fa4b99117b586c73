using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Verification;

namespace HuatuoAspire.Reasoning.UnitTests;

public sealed class VerifierMeasurementTests
{
    [Fact]
    public async Task DemoPairsAreBalancedAndTheRuleVerifierBeatsExactMatch()
    {
        var records = HuatuoAspire.Reasoning.Files.RecordFile.Read(DemoData.Path);
        var references = records.Select(r => (string)r.Json["Ground-True Answer"]!).ToList();
        var pairs = VerifierMeasurement.BuildPairs(references, seed: 7, sourceOptions: records.Select(r => (string?)r.Json["answer"]).ToList());

        Assert.Equal(Enum.GetValues<PairKind>().Length, pairs.Select(p => p.Kind).Distinct().Count());
        var synthetic = pairs.Where(p => p.Kind != PairKind.SourceOption).ToList();
        Assert.Equal(synthetic.Count(p => p.Correct), synthetic.Count(p => !p.Correct));
        Assert.All(pairs.Where(p => p.Kind == PairKind.WrongAnswer), p => Assert.NotEqual(p.Reference, p.Response));

        var rule = await VerifierMeasurement.ScoreAsync(new RuleVerifier(), pairs);
        var exact = VerifierMeasurement.ScoreExactMatch(pairs);
        Assert.Equal(pairs.Count, rule.Total);
        Assert.True(rule.Accuracy >= 0.9, $"rule verifier accuracy {rule.Accuracy:P1}");
        Assert.True(exact.Accuracy < rule.Accuracy, $"exact match {exact.Accuracy:P1} vs rule {rule.Accuracy:P1}");
    }

    [Fact]
    public void SourceOptionsBecomeCorrectPairsUnlessTheySayNothing()
    {
        var pairs = VerifierMeasurement.BuildPairs(["7 days", "Measles", "Mumps"], sourceOptions: ["1 week", "Measles", "bd"]);
        var source = pairs.Where(p => p.Kind == PairKind.SourceOption).ToList();
        Assert.Equal(("1 week", "7 days", true), (source.Single().Response, source.Single().Reference, source.Single().Correct));
    }

    [Fact]
    public void ScoresCountEachOutcome()
    {
        LabelledPair[] pairs =
        [
            new("Measles", "Measles", true, PairKind.TrueStatement, 0),
            new("measles.", "Measles", true, PairKind.Paraphrase, 0),
            new("Mumps", "Measles", false, PairKind.WrongAnswer, 0),
        ];
        var exact = VerifierMeasurement.ScoreExactMatch(pairs);
        Assert.Equal((2, 0, 1, 0), (exact.TruePositives, exact.FalsePositives, exact.TrueNegatives, exact.FalseNegatives));
        Assert.Equal(1.0, exact.Accuracy);
    }
}
