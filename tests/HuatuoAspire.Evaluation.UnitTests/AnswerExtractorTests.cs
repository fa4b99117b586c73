using HuatuoAspire.Evaluation;

namespace HuatuoAspire.Evaluation.UnitTests;

public sealed class AnswerExtractorTests
{
    private static readonly KeyValuePair<string, string>[] Options =
    [
        new("A", "Aspirin"), new("B", "Propranolol"), new("C", "Low-dose aspirin"), new("D", "Warfarin"),
    ];

    private static readonly KeyValuePair<string, string>[] FiveOptions = [.. Options, new("E", "Heparin")];

    [Theory]
    [InlineData("The answer is B.", "B")]
    [InlineData("The answer is (C)", "C")]
    [InlineData("So the answer is: **D**", "D")]
    [InlineData("the answer is b.", "B")]
    [InlineData("I first thought the answer is A, but the answer is D.", "D")]
    public void AnswerIsRuleTakesTheLastMatch(string output, string expected)
    {
        var answer = AnswerExtractor.Extract(output, Options);
        Assert.Equal(expected, answer.Letter);
        Assert.Equal(ExtractionRule.AnswerIs, answer.Rule);
    }

    [Fact]
    public void LowercaseArticleAfterAnswerIsIsNotALetter()
    {
        var answer = AnswerExtractor.Extract("The answer is a beta blocker such as propranolol", Options);
        Assert.Equal(ExtractionRule.OptionText, answer.Rule);
        Assert.Equal("B", answer.Letter);
    }

    [Theory]
    [InlineData("answer: c", "C")]
    [InlineData("Answer: e", "E")]
    [InlineData("choose b", "B")]
    [InlineData("I'd go with option d; it fits.", "D")]
    [InlineData("Correct option: (C) Low-dose aspirin", "C")]
    [InlineData("The best choice is c.", "C")]
    [InlineData("{\"answer\": \"d\", \"why\": \"INR\"}", "D")]
    [InlineData("### Final answer\n(b)", "B")]
    [InlineData("Option C is correct.", "C")]
    [InlineData("So the answer is: **D**", "D")]
    public void AnswerPhrasesAreReadInAnyCase(string output, string expected) =>
        Assert.Equal(new ExtractedAnswer(expected, ExtractionRule.AnswerIs), AnswerExtractor.Extract(output, FiveOptions));

    [Theory]
    [InlineData("I would choose B because increased activity of D cells explains the ulcer.", "B")]
    [InlineData("Option A is tempting and D cells matter, but the answer is C.", "C")]
    [InlineData("I would not choose A; I choose D.", "D")]
    [InlineData("A. Aspirin is tempting, yet option D is the best answer.", "D")]
    public void TheConclusionWinsOverLettersMerelyDiscussed(string output, string expected) =>
        Assert.Equal(expected, AnswerExtractor.Extract(output, Options).Letter);

    [Theory]
    [InlineData("The correct answer is: C. Low-dose aspirin", "C")]
    [InlineData("Answer: (B) Propranolol", "B")]
    [InlineData("My answer would be option C.", "C")]
    [InlineData("Therefore, C is the correct answer.", "C")]
    [InlineData("I think the answer is probably C", "C")]
    [InlineData("I'll choose (D).", "D")]
    [InlineData("**Answer:** C", "C")]
    [InlineData("Correct answer — B", "B")]
    [InlineData("答案是C。", "C")]
    [InlineData("Final Answer: The final answer is $\\boxed{C}$", "C")]
    [InlineData("Let me think. A is wrong. B is wrong. So the answer is D.", "D")]
    [InlineData("Answer: D. Warfarin\n\nExplanation: aspirin (A) is wrong.", "D")]
    [InlineData("The answer is not A; warfarin is.", "D")]
    [InlineData("E. coli infection is unlikely; I'd pick warfarin.", "D")]
    [InlineData("Vitamin C is the correct answer here.", "E")]
    public void PhrasingsBeyondTheCorpusAreReadAsAPersonReadsThem(string output, string expected) =>
        Assert.Equal(expected, AnswerExtractor.Extract(output, [.. Options, new("E", "Vitamin C")]).Letter);

    [Theory]
    [InlineData("**C**", "C")]
    [InlineData("Weighing it all, the best fit is **B**.", "B")]
    [InlineData("B. Propranolol", "B")]
    [InlineData("(D) — warfarin, because of the valve.", "D")]
    [InlineData("c", "C")]
    public void OneLetterSetApartIsTheAnswer(string output, string expected) =>
        Assert.Equal(new ExtractedAnswer(expected, ExtractionRule.StandaloneLetter), AnswerExtractor.Extract(output, Options));

    [Theory]
    [InlineData("I'm sorry, but I can't answer a medical question. Please consult a doctor.")]
    [InlineData("As an AI language model, I cannot choose a treatment for a patient.")]
    [InlineData("lorem vaso ipsum cardio the of zzq plinth murmur.")]
    [InlineData("## Thinking\n\nThe patient presents with fatigue and the differential includes")]
    [InlineData("Option (D) fits; not (B)")]
    [InlineData("A patient like this needs D")]
    [InlineData("warfarin or aspirin, hard to say")]
    [InlineData("Hmm, I am not sure. It could be A or B.")]
    [InlineData("The answer is unclear.")]
    [InlineData("The patient should receive a beta blocker.")]
    public void RefusalsGibberishAndUndecidedAnswersAreUnparsed(string output) =>
        Assert.Equal(ExtractedAnswer.Unparsed, AnswerExtractor.Extract(output, Options));

    [Fact]
    public void FinalResponseSectionIsTheOnlyTextConsidered()
    {
        var output = "## Thinking\n\nThe answer is A at first glance.\n\n## Final Response\n\nThe answer is D.";
        Assert.Equal("D", AnswerExtractor.Extract(output, Options).Letter);
        Assert.Equal("D", AnswerExtractor.Extract(output.Replace("\n", "\r\n", StringComparison.Ordinal), Options).Letter);
        Assert.Equal("A", AnswerExtractor.Extract("## Thinking\n\nThe answer is A.", Options).Letter);
    }

    [Fact]
    public void EmptyFinalResponseIsUnparsed()
    {
        Assert.Equal(new ExtractedAnswer(null, ExtractionRule.None), AnswerExtractor.Extract("## Thinking\n\nThe answer is A.\n\n## Final Response\n\n  ", Options));
        Assert.False(AnswerExtractor.Extract("", Options).IsParsed);
        Assert.False(AnswerExtractor.Extract(null, Options).IsParsed);
        Assert.False(AnswerExtractor.Extract("   \n", Options).IsParsed);
    }

    [Fact]
    public void OptionTextCountsOnlyWhenItIsClearlyTheAnswer()
    {
        // Two options named: the one after the answer phrase ("give").
        Assert.Equal(new ExtractedAnswer("A", ExtractionRule.OptionText), AnswerExtractor.Extract("warfarin is risky, give aspirin", Options));
        Assert.Equal(new ExtractedAnswer("D", ExtractionRule.OptionText), AnswerExtractor.Extract("The most likely answer here is warfarin.", Options));
        // "low-dose aspirin" and "aspirin" end at the same place: the longer option is the one named.
        Assert.Equal(new ExtractedAnswer("C", ExtractionRule.OptionText), AnswerExtractor.Extract("give low-dose aspirin", Options));
    }

    [Fact]
    public void MostSimilarOptionAnswersOnlyByAClearMargin()
    {
        Assert.Equal(new ExtractedAnswer("B", ExtractionRule.MostSimilarOption), AnswerExtractor.Extract("propanolol", Options));
        // Equally similar, or not similar enough: no guess.
        KeyValuePair<string, string>[] twins = [new("A", "xy"), new("B", "yx")];
        Assert.Equal(ExtractedAnswer.Unparsed, AnswerExtractor.Extract("x", twins));
        Assert.Equal(ExtractedAnswer.Unparsed, AnswerExtractor.Extract("zzz", twins));
        Assert.Equal(ExtractedAnswer.Unparsed, AnswerExtractor.Extract("warfarine or heparine", FiveOptions));
    }

    [Theory]
    // Values from Python 3: difflib.SequenceMatcher(None, a, b).ratio()
    [InlineData("propranolol", "the patient should get propanolol", 0.45454545454545453)]
    [InlineData("abc", "", 0.0)]
    [InlineData("", "", 1.0)]
    public void SequenceSimilarityMatchesDifflib(string a, string b, double expected) =>
        Assert.Equal(expected, SequenceSimilarity.Ratio(a, b), 12);

    [Fact]
    public void SequenceSimilarityAppliesDifflibAutojunkOnLongText()
    {
        var text = "i think it is " + string.Concat(Enumerable.Repeat("some kind of deficiency of minerals, ", 8));
        Assert.Equal(310, text.Length);
        Assert.Equal(0.006153846153846154, SequenceSimilarity.Ratio("iron deficiency", text), 12);
    }

    [Fact]
    public void WilsonIntervalMatchesHandComputedValues()
    {
        var (low, high) = WilsonInterval.Compute(3, 5);
        Assert.Equal(0.2307242812760128, low, 9);
        Assert.Equal(0.882379225767352, high, 9);
        Assert.Equal(0.0, WilsonInterval.Compute(0, 10).Low, 9);
        Assert.Equal(0.2775327998628892, WilsonInterval.Compute(0, 10).High, 9);
        Assert.Equal(0.7224672001371107, WilsonInterval.Compute(10, 10).Low, 9);
        Assert.Equal((0.0, 0.0), WilsonInterval.Compute(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => WilsonInterval.Compute(6, 5));
    }
}
