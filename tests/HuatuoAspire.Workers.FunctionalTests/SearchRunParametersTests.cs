using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Prompts;
using HuatuoAspire.Workers.Jobs;

namespace HuatuoAspire.Workers.FunctionalTests;

/// <summary>The search's older judgeEndpoint field folds into the one verifier specification.</summary>
public sealed class SearchRunParametersTests
{
    [Theory]
    [InlineData("rule", null, null, "rule")]
    [InlineData("llm", null, null, "llm")]
    [InlineData("llm", null, "writer", "llm:writer")]
    [InlineData("llm", "judge", "writer", "llm:judge")]
    [InlineData("llm:judge", null, "writer", "llm:judge")]
    [InlineData("llm:judge", "judge", null, "llm:judge")]
    public void TheVerifierIsTheJudgeNamedOnceElseTheGeneratingEndpoint(string verifier, string? judgeEndpoint, string? endpoint, string expected)
    {
        var parameters = new SearchRunParameters { Verifier = verifier, JudgeEndpoint = judgeEndpoint, Endpoint = endpoint };
        Assert.Equal(VerifierSpecification.Parse(expected), parameters.ResolveVerifier());
    }

    [Theory]
    [InlineData("rule", "judge", "drop one of them")]
    [InlineData("llm:a", "b", "name different judges")]
    [InlineData("classifier:/models/v", null, "not a classifier")]
    [InlineData("judge", null, VerifierSpecification.Grammar)]
    public void ContradictoryOrUnsupportedVerifiersAreRefusedWithTheReason(string verifier, string? judgeEndpoint, string reason)
    {
        var parameters = new SearchRunParameters { Verifier = verifier, JudgeEndpoint = judgeEndpoint };
        Assert.Contains(reason, Assert.Throws<ArgumentException>(() => parameters.ResolveVerifier()).Message);
    }

    [Fact]
    public void UnsetDepthAndAttemptsTakeThePaperDefaultsOrInEfficientModeTheReferenceScripts()
    {
        var plain = SearchRunParameters.FromJson("{}").ToSearchOptions();
        Assert.Equal((3, 3, false, false, PromptLanguage.En), (plain.MaxDepth, plain.MaxAttempts, plain.EfficientSearch, plain.ReuseInitialReasoning, plain.Language));

        var efficient = SearchRunParameters.FromJson("""{"efficientSearch":true,"language":"zh"}""").ToSearchOptions();
        Assert.Equal((2, 1, true, true, PromptLanguage.Zh), (efficient.MaxDepth, efficient.MaxAttempts, efficient.EfficientSearch, efficient.ReuseInitialReasoning, efficient.Language));

        var chosen = SearchRunParameters.FromJson("""{"efficientSearch":true,"maxDepth":4,"maxAttempts":2,"reuseInitialReasoning":false,"seed":5}""").ToSearchOptions();
        Assert.Equal((4, 2, true, false, 5), (chosen.MaxDepth, chosen.MaxAttempts, chosen.EfficientSearch, chosen.ReuseInitialReasoning, chosen.Seed));
        Assert.Throws<ArgumentException>(() => SearchRunParameters.FromJson("""{"language":"fr"}""").ToSearchOptions());
    }
}
