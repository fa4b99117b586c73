using HuatuoAspire.Reasoning.Prompts;
using HuatuoAspire.Workers.Jobs;

namespace HuatuoAspire.Workers.Tests;

public sealed class SearchRunParametersTests
{
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
