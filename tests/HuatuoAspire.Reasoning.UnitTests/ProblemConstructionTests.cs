using System.Text.Json.Nodes;
using HuatuoAspire.Reasoning.Construction;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Reasoning.UnitTests;

public sealed class ProblemConstructionTests
{
    private static readonly MultipleChoiceQuestion Question = MultipleChoiceQuestion.FromJson(JsonNode.Parse("""
        {"question": "A 30-year-old woman returns from Kenya with fever, chills and a positive thick smear. Which drug clears the liver stage?",
         "options": {"A": "Chloroquine", "B": "Primaquine", "C": "Artesunate", "D": "Doxycycline"}, "answer_idx": "B", "answer": "Primaquine"}
        """)!.AsObject(), out _)!;

    private const string Rewrite = """{"Open-ended Verifiable Question": "Which drug eradicates the liver hypnozoites in malaria?", "Ground-True Answer": "Primaquine"}""";

    private static bool IsFilter(RecordedRequest r) => Scripts.Prompt(r).StartsWith("<Multiple-choice Question>", StringComparison.Ordinal);
    private static bool IsRewrite(RecordedRequest r) => Scripts.Prompt(r).StartsWith("Rewrite the multiple-choice", StringComparison.Ordinal);

    [Fact]
    public async Task PassingQuestionIsRewrittenWithEveryPromptKept()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Text("{\"verdict\": \"Pass\"}"), ScriptedReply.Text("```json\n" + Rewrite + "\n```")]);
        using var writer = Scripts.Endpoint(server);
        var result = await new ProblemConstruction(writer).ConstructAsync(Question);

        Assert.Equal(ConstructionStatus.Accepted, result.Status);
        Assert.Equal(FilterVerdict.Pass, result.Verdict);
        Assert.Equal("Primaquine", result.GroundTruthAnswer);
        Assert.Equal("Which drug eradicates the liver hypnozoites in malaria?", result.OpenEndedQuestion);
        Assert.Contains("B. Primaquine", result.FilterPrompt);
        Assert.Contains("Correct Answer: Primaquine", result.RewritePrompt);
        Assert.Equal(["{\"verdict\": \"Pass\"}"], result.FilterRawOutputs);
        Assert.True(IsFilter(server.Requests[0]) && IsRewrite(server.Requests[1]));
        Assert.Equal("json_schema", server.Requests[1].ResponseFormatType);
    }

    [Theory]
    [InlineData("{\"verdict\": \"Too Simple\"}", FilterVerdict.TooSimple)]
    [InlineData("Ambiguous Answer", FilterVerdict.AmbiguousAnswer)]
    [InlineData("Verdict: not reformulatable.", FilterVerdict.NotReformulatable)]
    public async Task RejectingVerdictStopsBeforeTheRewrite(string reply, FilterVerdict verdict)
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Text(reply), ScriptedReply.Text(reply)]);
        using var writer = Scripts.Endpoint(server);
        var result = await new ProblemConstruction(writer).ConstructAsync(Question);

        Assert.Equal(ConstructionStatus.Rejected, result.Status);
        Assert.Equal(verdict, result.Verdict);
        Assert.Contains(ProblemConstruction.Label(verdict), result.RejectReason);
        Assert.DoesNotContain(server.Requests, IsRewrite);
        Assert.Null(result.OpenEndedQuestion);
    }

    [Fact]
    public async Task UnreadableVerdictFailsWithTheRawOutputs()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Text("Hard to say."), ScriptedReply.Text("Either Pass or Too Simple.")]);
        using var writer = Scripts.Endpoint(server);
        var result = await new ProblemConstruction(writer).ConstructAsync(Question);
        Assert.Equal(ConstructionStatus.Failed, result.Status);
        Assert.Contains("filter verdict could not be read", result.RejectReason);
        Assert.Equal(["Hard to say.", "Either Pass or Too Simple."], result.FilterRawOutputs);
    }

    [Fact]
    public async Task AChineseRunAsksForTheOpenEndedQuestionAndAnswerInChinese()
    {
        const string chinese = """{"Open-ended Verifiable Question": "哪种药物可清除疟疾的肝内休眠子？", "Ground-True Answer": "伯氨喹"}""";
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Text("{\"verdict\": \"Pass\"}"), ScriptedReply.Text(chinese)]);
        using var writer = Scripts.Endpoint(server);
        var result = await new ProblemConstruction(writer, options: new ConstructionOptions { Language = Prompts.PromptLanguage.Zh }).ConstructAsync(Question);

        Assert.Equal(ConstructionStatus.Accepted, result.Status);
        Assert.Equal("伯氨喹", result.GroundTruthAnswer);
        var sent = Scripts.Prompt(server.Requests[1]);
        Assert.True(IsRewrite(server.Requests[1]));
        Assert.Contains("All content within the JSON fields must be written in **Chinese**", sent);
        Assert.Contains($"<Multiple-choice Question>\n{Question.FormatWithOptions()}\nCorrect Answer: Primaquine\n</Multiple-choice Question>", sent);
        Assert.Equal(sent, result.RewritePrompt);
        // English runs are unchanged.
        Assert.DoesNotContain("Chinese", await ConstructionPrompts.RewriteAsync(Prompts.PromptLanguage.En, Question));
    }

    [Fact]
    public async Task RewriteWithExtraFieldIsRetriedOnceThenAccepted()
    {
        await using var server = await ScriptedChatServer.StartAsync([
            ScriptedReply.Text("{\"verdict\": \"Pass\"}"),
            ScriptedReply.Text("""{"Open-ended Verifiable Question": "Q?", "Ground-True Answer": "Primaquine", "Explanation": "because"}"""),
            ScriptedReply.Text(Rewrite)]);
        using var writer = Scripts.Endpoint(server);
        var result = await new ProblemConstruction(writer).ConstructAsync(Question);
        Assert.Equal(ConstructionStatus.Accepted, result.Status);
        Assert.Equal(2, result.RewriteRawOutputs.Count);
        Assert.Contains("unexpected field(s) \"Explanation\"", server.Requests[2].LastUserMessage);
    }

    [Fact]
    public async Task RewriteInvalidTwiceFails()
    {
        await using var server = await ScriptedChatServer.StartAsync([
            ScriptedReply.Text("{\"verdict\": \"Pass\"}"),
            ScriptedReply.Text("""{"Open-ended Verifiable Question": "Q?"}"""),
            ScriptedReply.Text("""{"Open-ended Verifiable Question": "Q?", "Ground-True Answer": ""}""")]);
        using var writer = Scripts.Endpoint(server);
        var result = await new ProblemConstruction(writer).ConstructAsync(Question);
        Assert.Equal(ConstructionStatus.Failed, result.Status);
        Assert.Contains("\"Ground-True Answer\" is missing or empty", result.RejectReason);
    }

    [Fact]
    public async Task QuestionEverySmallModelSolvesIsDropped()
    {
        await using var small = await ScriptedChatServer.StartAsync([ScriptedReply.Text("{\"answer\": \"B\"}"), ScriptedReply.Text("The answer is B.")]);
        await using var writerServer = await ScriptedChatServer.StartAsync([]);
        using var writer = Scripts.Endpoint(writerServer);
        using var first = Scripts.Endpoint(small, o => o with { Name = "small-1", Model = "tiny-1" });
        using var second = Scripts.Endpoint(small, o => o with { Name = "small-2", Model = "tiny-2" });
        var result = await new ProblemConstruction(writer, [first, second]).ConstructAsync(Question);

        Assert.Equal(ConstructionStatus.Rejected, result.Status);
        Assert.Contains("all 2 small model(s) answered correctly", result.RejectReason);
        Assert.Equal(["B", "B"], result.DifficultyChecks.Select(c => c.Chosen));
        Assert.Empty(writerServer.Requests);
        Assert.Equal(["tiny-1", "tiny-2"], small.Requests.Select(r => r.Model));
    }

    [Fact]
    public async Task QuestionASmallModelMissesGoesOnToTheFilter()
    {
        await using var small = await ScriptedChatServer.StartAsync([ScriptedReply.Text("{\"answer\": \"A\"}")]);
        await using var writerServer = await ScriptedChatServer.StartAsync([ScriptedReply.Text("{\"verdict\": \"Pass\"}"), ScriptedReply.Text(Rewrite)]);
        using var writer = Scripts.Endpoint(writerServer);
        using var tiny = Scripts.Endpoint(small, o => o with { Model = "tiny" });
        var result = await new ProblemConstruction(writer, [tiny]).ConstructAsync(Question);
        Assert.Equal(ConstructionStatus.Accepted, result.Status);
        Assert.False(result.DifficultyChecks.Single().Correct);
    }

    [Fact]
    public async Task VeryShortQuestionIsDroppedWithoutAnyCall()
    {
        await using var server = await ScriptedChatServer.StartAsync([]);
        using var writer = Scripts.Endpoint(server);
        var shortQuestion = Question with { Question = "Drug of choice?" };
        var result = await new ProblemConstruction(writer).ConstructAsync(shortQuestion);
        Assert.Equal(ConstructionStatus.Rejected, result.Status);
        Assert.Contains("fewer than the minimum 40", result.RejectReason);
        Assert.Empty(server.Requests);
    }

    [Theory]
    [InlineData("{\"answer\": \"C\"}", "C")]
    [InlineData("I think the answer is (D).", "D")]
    [InlineData("The answer is a drug.", null)]
    public void ChosenOptionIsReadFromJsonOrText(string reply, string? expected) =>
        Assert.Equal(expected, ProblemConstruction.ChosenOption(reply, Question));

    [Theory]
    [InlineData("""{"question": "Q", "options": {"A": "x"}, "answer_idx": "A"}""", "at least two options")]
    [InlineData("""{"options": {"A": "x", "B": "y"}, "answer_idx": "A"}""", "\"question\" is missing")]
    [InlineData("""{"question": "Q", "options": {"A": "x", "B": "y"}, "answer_idx": "E"}""", "'E' is not one of the options (A, B)")]
    [InlineData("""{"question": "Q", "options": {"A": "x", "B": "y"}, "answer": "z"}""", "matches no option")]
    public void InvalidQuestionSaysWhichFieldIsWrong(string json, string message)
    {
        Assert.Null(MultipleChoiceQuestion.FromJson(JsonNode.Parse(json)!.AsObject(), out var error));
        Assert.Contains(message, error);
    }
}
