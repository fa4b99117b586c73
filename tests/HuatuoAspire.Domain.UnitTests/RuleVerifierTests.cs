using HuatuoAspire.Domain.Verification;

namespace HuatuoAspire.Domain.UnitTests;

public sealed class RuleVerifierTests
{
    private readonly RuleVerifier _verifier = new();

    [Theory]
    [InlineData("Parvovirus B19 infection", "parvovirus b19 infection.")]
    [InlineData("The most likely answer is Parvovirus B19 infection.", "Parvovirus B19 infection")]
    [InlineData("Cavernous sinus thrombosis", "Cavernous sinus thrombosis.")]
    [InlineData("Barrett’s esophagus", "Barrett's esophagus")]
    [InlineData("Right–sided heart failure", "Right-sided heart failure")]
    [InlineData("Elevated alpha-fetoprotein", "Elevated α-fetoprotein")]
    [InlineData("Single nucleotide polymorphism", "Single nucleotide polymorphisms")]
    [InlineData("Perforator vein", "Perforator veins")]
    [InlineData("Pseudomonas aeruginosa", "Pseudomonas Aeroginosa")]
    [InlineData("Acute MI", "Acute myocardial infarction")]
    [InlineData("heart attack", "Myocardial infarction")]
    [InlineData("DVT", "Deep vein thrombosis")]
    [InlineData("Pulmonary embolism", "PE")]
    [InlineData("COPD exacerbation", "Exacerbation of chronic obstructive pulmonary disease")]
    [InlineData("HTN", "Hypertension")]
    [InlineData("T2DM", "Type 2 diabetes mellitus")]
    [InlineData("Start an ACE inhibitor", "Start an angiotensin-converting enzyme inhibitor")]
    [InlineData("Avoid NSAIDs", "Avoid nonsteroidal anti-inflammatory drugs")]
    [InlineData("FNAC", "Fine needle aspiration cytology")]
    [InlineData("ECG", "Electrocardiogram")]
    [InlineData("Paracetamol overdose", "Acetaminophen overdose")]
    public void AcceptsEquivalentText(string response, string reference) =>
        AssertVerdict(true, response, reference);

    [Theory]
    [InlineData("95 %", "95%")]
    [InlineData("The sensitivity is 95 percent", "95%")]
    [InlineData("1 week", "7 days")]
    [InlineData("500 mg", "0.5 g")]
    [InlineData("1000 mcg", "1 mg")]
    [InlineData("2.2 lb", "1 kg")]
    [InlineData("250 mL", "0.25 L")]
    [InlineData("37.8 °C", "100°F")]
    [InlineData("1.5 hours", "90 minutes")]
    [InlineData("6 g/dL", "60 g/L")]
    [InlineData("197,000", "197000")]
    [InlineData("10", "ten")]
    [InlineData("4.02 mmol", "4 mmol")]
    public void AcceptsEqualQuantities(string response, string reference) =>
        AssertVerdict(true, response, reference);

    [Theory]
    [InlineData("75%", "95%")]
    [InlineData("5 days", "7 days")]
    [InlineData("500 mg", "5 g")]
    [InlineData("37.8 °C", "37.8 °F")]
    [InlineData("7 mL", "7 days")]
    [InlineData("4.2 mmol", "4 mmol")]
    [InlineData("There is no numeric answer", "23")]
    public void RejectsDifferentQuantities(string response, string reference) =>
        AssertVerdict(false, response, reference);

    [Theory]
    [InlineData("Hypermagnesemia", "Hypomagnesemia")]
    [InlineData("Left anterior cerebral artery", "Right anterior cerebral artery")]
    [InlineData("Increased renin secretion", "Decreased renin secretion")]
    [InlineData("Lateral meniscus tear", "Medial meniscus tear")]
    [InlineData("Pulmonary hypertension", "Hypertension")]
    [InlineData("Folate deficiency", "Parvovirus B19 infection")]
    [InlineData("The answer is not parvovirus B19 infection", "Parvovirus B19 infection")]
    [InlineData("Type 2 achalasia", "Type 3 achalasia")]
    [InlineData("Increased serum estradiol and increased serum LH", "Decreased serum estradiol and increased serum LH")]
    [InlineData("Simple mastectomy followed by radiotherapy", "Simple mastectomy followed by oophorectomy")]
    [InlineData("", "Morphine")]
    [InlineData("Morphine", "  ")]
    public void RejectsDifferentAnswers(string response, string reference) =>
        AssertVerdict(false, response, reference);

    [Fact]
    public void LongResponseIsScoredByReferenceRecall()
    {
        const string response = "Considering the low reticulocyte count in a patient with sickle cell disease and sudden anemia, " +
                                "the most likely cause is an aplastic crisis from parvovirus B19 infection, which halts erythropoiesis.";
        var result = _verifier.Verify(response, "Parvovirus B19 infection");
        Assert.True(result.IsCorrect, result.Reason);
        Assert.Contains("reference recall", result.Reason);
    }

    [Fact]
    public void ToleranceIsConfigurable()
    {
        var strict = new RuleVerifier(new RuleVerifierOptions { RelativeTolerance = 0.001 });
        var loose = new RuleVerifier(new RuleVerifierOptions { RelativeTolerance = 0.1 });
        Assert.False(strict.Verify("4.1 mg", "4 mg").IsCorrect);
        Assert.True(loose.Verify("4.1 mg", "4 mg").IsCorrect);
    }

    [Fact]
    public void ReasonNamesTheExpectedAndFoundQuantities()
    {
        var result = _verifier.Verify("about 75%", "95%");
        Assert.Equal("rule", result.Verifier);
        Assert.Contains("95 %", result.Reason);
        Assert.Contains("75 %", result.Reason);
    }

    [Fact]
    public void MalformedSynonymTableIsRejectedWithItsLine()
    {
        var error = Assert.Throws<FormatException>(() => new MedicalTerminology("# header\nmyocardial infarction\n", "table.tsv"));
        Assert.Contains("table.tsv:2", error.Message);
        var conflict = Assert.Throws<FormatException>(() => new MedicalTerminology("a b\tab\nc d\tab\n", "table.tsv"));
        Assert.Contains("already maps", conflict.Message);
    }

    [Fact]
    public void EmbeddedTableLoads() => Assert.True(MedicalTerminology.Default.GroupCount > 150);

    [Fact]
    public async Task HonoursCancellation()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAsync<OperationCanceledException>(() => _verifier.VerifyAsync("a", "a", cancelled.Token));
    }

    private void AssertVerdict(bool expected, string response, string reference)
    {
        var result = _verifier.Verify(response, reference);
        Assert.True(result.IsCorrect == expected, $"'{response}' vs '{reference}': {result.IsCorrect} ({result.Reason})");
    }
}
