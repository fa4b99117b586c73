using HuatuoAspire.Model.Generation;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>The sampler's filters and draws, on logits small enough to work out by hand.</summary>
public sealed class TokenSamplerTests
{
    private static readonly float[] Logits = [2f, 1f, 0f, -1f];

    private static double LogSoftmax(int token, double temperature) =>
        Logits[token] / temperature - Math.Log(Logits.Sum(l => Math.Exp(l / temperature)));

    [Fact]
    public void TopPKeepsTheSmallestSetReachingTheMass()
    {
        // Token 0 alone holds 64% of the mass, so top_p 0.5 can only ever pick it.
        var sampler = new TokenSampler(new SamplingOptions { TopP = 0.5, Seed = 1 });
        for (var i = 0; i < 50; i++) Assert.Equal(0, sampler.Sample(Logits).TokenId);
        // top_p 0.9 needs tokens 0 and 1 (64% + 24% = 88% < 90%) and token 2 (97%): never token 3.
        var wider = new TokenSampler(new SamplingOptions { TopP = 0.9, Seed = 2 });
        var seen = new HashSet<int>();
        for (var i = 0; i < 2000; i++) seen.Add(wider.Sample(Logits).TokenId);
        Assert.Equal([0, 1, 2], seen.Order());
    }

    [Fact]
    public void TopKDrawsInProportionAndLogProbsAreThoseOfTheTemperatureScaledPolicy()
    {
        var sampler = new TokenSampler(new SamplingOptions { TopK = 2, Temperature = 0.5, Seed = 9 });
        var counts = new int[4];
        for (var i = 0; i < 4000; i++)
        {
            var s = sampler.Sample(Logits);
            counts[s.TokenId]++;
            Assert.Equal((float)LogSoftmax(s.TokenId, 0.5), s.LogProb, 1e-5f);
            Assert.Equal((float)LogSoftmax(s.TokenId, 1.0), s.RawLogProb, 1e-5f);
        }
        Assert.Equal(0, counts[2] + counts[3]);
        // Within top-2 at T = 0.5 the odds are e^4 : e^2, so token 1 comes 11.9% of the time.
        Assert.InRange(counts[1] / 4000.0, 0.10, 0.14);
    }

    [Fact]
    public void TheSameSeedDrawsTheSameSequence()
    {
        var a = new TokenSampler(new SamplingOptions { Seed = 5 });
        var b = new TokenSampler(new SamplingOptions { Seed = 5 });
        var c = new TokenSampler(new SamplingOptions { Seed = 6 });
        var first = Enumerable.Range(0, 64).Select(_ => a.Sample(Logits).TokenId).ToArray();
        Assert.Equal(first, Enumerable.Range(0, 64).Select(_ => b.Sample(Logits).TokenId).ToArray());
        Assert.NotEqual(first, Enumerable.Range(0, 64).Select(_ => c.Sample(Logits).TokenId).ToArray());
    }
}
