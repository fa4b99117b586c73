using HuatuoAspire.Domain.Verification;

namespace HuatuoAspire.Domain.UnitTests;

public sealed class VerifierSpecificationTests
{
    [Theory]
    [InlineData("rule", VerifierKind.Rule, null, null)]
    [InlineData("llm", VerifierKind.Llm, null, null)]
    [InlineData("llm:judge", VerifierKind.Llm, "judge", null)]
    [InlineData(" llm:gpt-4o ", VerifierKind.Llm, "gpt-4o", null)]
    [InlineData("classifier:/models/medical_o1_verifier_3B", VerifierKind.Classifier, null, "/models/medical_o1_verifier_3B")]
    [InlineData("classifier:blob:models/verifier", VerifierKind.Classifier, null, "blob:models/verifier")]
    public void WellFormedSpecificationsParseIntoTheirParts(string text, VerifierKind kind, string? endpoint, string? model)
    {
        var specification = VerifierSpecification.Parse(text);
        Assert.Equal((kind, endpoint, model), (specification.Kind, specification.Endpoint, specification.ClassifierModel));
    }

    [Theory]
    [InlineData("rule")]
    [InlineData("llm")]
    [InlineData("llm:judge")]
    [InlineData("classifier:/models/v")]
    [InlineData("classifier:blob:models/v")]
    public void AParsedSpecificationWritesBackTheSameText(string text) =>
        Assert.Equal(text, VerifierSpecification.Parse(text).ToString());

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("judge")]
    [InlineData("Rule")]
    [InlineData("llm:")]
    [InlineData("llm:  ")]
    [InlineData("classifier:")]
    [InlineData("classifier:blob:")]
    [InlineData("classifier:blob:/")]
    [InlineData("rule:strict")]
    public void MalformedSpecificationsAreRefusedWithTheGrammar(string? text)
    {
        Assert.False(VerifierSpecification.TryParse(text, out var specification, out var error));
        Assert.Null(specification);
        Assert.Contains(VerifierSpecification.Grammar, error);
        var thrown = Assert.Throws<FormatException>(() => VerifierSpecification.Parse(text));
        Assert.Equal(error, thrown.Message);
    }

    [Fact]
    public void OnlyABlobClassifierIsInBlobStorage()
    {
        Assert.True(VerifierSpecification.Parse("classifier:blob:models/v").ClassifierIsBlob);
        Assert.False(VerifierSpecification.Parse("classifier:/models/v").ClassifierIsBlob);
        Assert.False(VerifierSpecification.Rule.ClassifierIsBlob);
    }

    [Fact]
    public void SpecificationsWithTheSameTextAreEqual()
    {
        Assert.Equal(VerifierSpecification.Llm("judge"), VerifierSpecification.Parse("llm:judge"));
        Assert.NotEqual(VerifierSpecification.Llm(), VerifierSpecification.Llm("judge"));
        Assert.Same(VerifierSpecification.Rule, VerifierSpecification.Parse("rule"));
    }
}
