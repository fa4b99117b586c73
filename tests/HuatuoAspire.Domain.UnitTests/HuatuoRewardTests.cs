using HuatuoAspire.Domain.Reward;
using HuatuoAspire.Domain.Verification;

namespace HuatuoAspire.Domain.UnitTests;

public sealed class HuatuoRewardTests
{
    [Theory]
    [InlineData("## Thinking\n\n5 x 40 = 200.\n\n## Final Response\n\nThe dose is 200 mg.", 1.0, true)]
    [InlineData("## Thinking\n\n5 x 40 = 210.\n\n## Final Response\n\nThe dose is 210 mg.", 0.1, true)]
    [InlineData("The dose is 200 mg.", 0.0, false)]
    [InlineData("## Thinking\n\nx\n\n## Thinking\n\ny\n\n## Final Response\n\n200 mg", 0.0, false)]
    [InlineData("## Thinking\n\nx\n\n## Final Response\n\n200 mg\n\n## Final Response\n\n200 mg", 0.0, false)]
    [InlineData("## Final Response\n\n200 mg\n\n## Thinking\n\nx", 0.0, false)]
    public async Task RewardRuleOnCraftedResponses(string response, double expected, bool wellFormed)
    {
        var reward = new HuatuoReward(new RuleVerifier());
        var result = await reward.ScoreAsync(response, "200 mg");
        Assert.Equal(expected, result.Reward);
        Assert.Equal(wellFormed, result.WellFormed);
    }
}
