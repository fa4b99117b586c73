using System.Collections.Concurrent;
using HuatuoAspire.Domain.Search;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Prompts;
using HuatuoAspire.Reasoning.Search;
using HuatuoAspire.Reasoning.Verification;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Reasoning.UnitTests;

public sealed class ReasoningPathSearchTests
{
    private const string Question = "A man with sickle cell disease has sudden anemia with reticulocytes of 0.4%. What infection is the likely cause?";
    private const string Truth = "Parvovirus B19 infection";

    /// <summary>Answers each kind of prompt from its own queue; anything unscripted fails the test loudly.</summary>
    private sealed class Script
    {
        public ConcurrentQueue<string> Initial { get; } = new();
        public ConcurrentQueue<string> Refinements { get; } = new();
        public ConcurrentQueue<string> Judge { get; } = new();
        public string Reformat { get; set; } = Scripts.Natural();
        public string Final { get; set; } = "Parvovirus B19 infection is the most likely cause.";

        public ScriptedReply Answer(RecordedRequest request)
        {
            string? text = null;
            if (Scripts.IsJudge(request)) Judge.TryDequeue(out text);
            else if (Scripts.IsRefinement(request)) Refinements.TryDequeue(out text);
            else if (Scripts.IsInitial(request)) Initial.TryDequeue(out text);
            else if (Scripts.IsReformat(request)) text = Reformat;
            else if (Scripts.IsFinalResponse(request)) text = Final;
            return text is null ? ScriptedReply.BadRequest("unscripted request: " + request.LastUserMessage[..Math.Min(60, request.LastUserMessage.Length)]) : ScriptedReply.Text(text);
        }
    }

    private static async Task<(SearchResult Result, IReadOnlyList<RecordedRequest> Requests)> RunAsync(Script script, SearchOptions options, Func<LlmEndpoint, IAnswerVerifier>? verifier = null, int itemSeed = 1)
    {
        await using var server = await ScriptedChatServer.StartAsync(script.Answer);
        using var endpoint = Scripts.Endpoint(server);
        var search = new ReasoningPathSearch(endpoint, verifier?.Invoke(endpoint) ?? new RuleVerifier(), options);
        var result = await search.SearchAsync(Question, Truth, itemSeed);
        return (result, server.Requests);
    }

    [Fact]
    public async Task CorrectFirstChainIsRewrittenIntoComplexCotAndResponse()
    {
        var script = new Script();
        script.Initial.Enqueue(Scripts.Cot("The cause is parvovirus B19 infection."));
        var (result, requests) = await RunAsync(script, new SearchOptions());

        Assert.Equal(SearchStatus.Verified, result.Status);
        Assert.Equal("Hmm, the reticulocytes are low.\nSo the marrow stopped.\nParvovirus B19 fits.", result.ComplexCot);
        Assert.Equal("Parvovirus B19 infection is the most likely cause.", result.Response);
        Assert.Equal([SearchStepKind.InitialReasoning, SearchStepKind.Reformat, SearchStepKind.FinalResponse], result.Steps.Select(s => s.Kind));
        Assert.Equal(3, requests.Count);
        Assert.Equal("json_schema", requests[0].ResponseFormatType);
        Assert.Contains("### Look at the findings", requests[1].LastUserMessage);
        Assert.Contains("### Conclusion", requests[1].LastUserMessage);
        Assert.True(result.Steps[0].Verdict!.IsCorrect);
    }

    [Fact]
    public async Task WrongConclusionIsRefinedWithStrategiesUntilVerified()
    {
        var script = new Script();
        script.Initial.Enqueue(Scripts.Cot("Iron deficiency", thinking: "first thought"));
        script.Refinements.Enqueue(Scripts.Cot("Folate deficiency", refinement: true, thinking: "second thought"));
        script.Refinements.Enqueue(Scripts.Cot("Parvovirus B19 infection", refinement: true, thinking: "third thought"));
        var (result, requests) = await RunAsync(script, new SearchOptions { MaxDepth = 3, MaxAttempts = 1 });

        Assert.Equal(SearchStatus.Verified, result.Status);
        var refinements = result.Steps.Where(s => s.Kind == SearchStepKind.Refinement).ToList();
        Assert.Equal(2, refinements.Count);
        Assert.NotEqual("Backtracking", refinements[0].Strategy);
        Assert.All(refinements, r => Assert.Contains(r.Strategy!, new[] { "Backtracking", "Exploring New Paths", "Verification", "Correction" }));
        Assert.Equal([false, false, true], result.Steps.Where(s => s.Verdict is not null).Select(s => s.Verdict!.IsCorrect));

        // The refinement prompt shows the chain without its last Verification and says the conclusion is wrong.
        var firstRefinementPrompt = requests.First(Scripts.IsRefinement).LastUserMessage;
        Assert.Contains("first thought", firstRefinementPrompt);
        Assert.Contains("Iron deficiency", firstRefinementPrompt);
        Assert.DoesNotContain("The conclusion fits the findings.", firstRefinementPrompt);
        Assert.Contains("Final Conclusion is wrong", firstRefinementPrompt);

        // New steps (starting with a Verification) are appended after the chain minus its last Verification.
        Assert.Equal(
            ["Inner Thinking", "Final Conclusion", "Verification", "Inner Thinking", "Final Conclusion", "Verification", "Inner Thinking", "Final Conclusion", "Verification"],
            result.LongCot.Select(s => s.Action));
        Assert.Equal(["first thought", "second thought", "third thought"], result.LongCot.Where(s => s.Action == "Inner Thinking").Select(s => s.Content));
    }

    [Theory]
    [InlineData(SearchStrategy.Backtracking, "**backtracking**")]
    [InlineData(SearchStrategy.ExploringNewPaths, "**exploring a new path**")]
    [InlineData(SearchStrategy.Verification, "**verifying**")]
    [InlineData(SearchStrategy.Correction, "**correcting**")]
    public async Task EachStrategyHasItsOwnInstruction(SearchStrategy strategy, string instruction)
    {
        var prompt = await SearchPrompts.RefinementAsync(PromptLanguage.En, strategy, "Q?", "[]");
        Assert.Contains(instruction, prompt);
        Assert.Contains("Start directly with the next \"Verification\" step", prompt);
    }

    [Fact]
    public void StrategyDrawExcludesBacktrackingOnlyAtTheFirstRefinement()
    {
        var random = new Random(7);
        var first = Enumerable.Range(0, 400).Select(_ => SearchStrategies.Choose(random, firstRefinement: true)).ToHashSet();
        var later = Enumerable.Range(0, 400).Select(_ => SearchStrategies.Choose(random, firstRefinement: false)).ToHashSet();
        Assert.DoesNotContain(SearchStrategy.Backtracking, first);
        Assert.Equal(3, first.Count);
        Assert.Equal(4, later.Count);
    }

    [Fact]
    public async Task SameSeedGivesSameStrategies()
    {
        async Task<string[]> Strategies()
        {
            var script = new Script();
            script.Initial.Enqueue(Scripts.Cot("Iron deficiency"));
            for (var i = 0; i < 3; i++) script.Refinements.Enqueue(Scripts.Cot("Folate deficiency", refinement: true));
            var (result, _) = await RunAsync(script, new SearchOptions { MaxDepth = 3, MaxAttempts = 1, Seed = 5 }, itemSeed: 11);
            return result.Steps.Where(s => s.Strategy is not null).Select(s => s.Strategy!).ToArray();
        }
        Assert.Equal(await Strategies(), await Strategies());
    }

    [Fact]
    public async Task ExhaustedDepthAndAttemptsFailWithReasonAndFreshAttempts()
    {
        var script = new Script();
        for (var i = 0; i < 2; i++) script.Initial.Enqueue(Scripts.Cot("Iron deficiency", thinking: $"attempt {i + 1}"));
        for (var i = 0; i < 4; i++) script.Refinements.Enqueue(Scripts.Cot("Folate deficiency", refinement: true));
        var (result, requests) = await RunAsync(script, new SearchOptions { MaxDepth = 2, MaxAttempts = 2 });

        Assert.Equal(SearchStatus.Failed, result.Status);
        Assert.Contains("no verified conclusion after 2 attempt(s) of up to 2 refinement(s)", result.FailureReason);
        Assert.Null(result.ComplexCot);
        Assert.Equal(6, requests.Count);
        Assert.Equal([1, 1, 1, 2, 2, 2], result.Steps.Select(s => s.Attempt));
        Assert.Equal([0, 1, 2, 0, 1, 2], result.Steps.Select(s => s.Depth));
        // The second attempt starts from a fresh initial chain, not from the first attempt's reasoning.
        Assert.Contains("attempt 2", result.LongCot[0].Content);
        Assert.DoesNotContain("attempt 1", requests.Last(Scripts.IsRefinement).LastUserMessage);
    }

    [Fact]
    public async Task MalformedChainGetsOneRepairTurn()
    {
        var script = new Script();
        script.Initial.Enqueue("Let me think. The answer is parvovirus.");
        script.Initial.Enqueue("```json\n" + Scripts.Cot("Parvovirus B19 infection") + "\n```");
        var (result, requests) = await RunAsync(script, new SearchOptions());

        Assert.Equal(SearchStatus.Verified, result.Status);
        Assert.Equal(2, result.Steps[0].RawOutputs.Count);
        var repair = requests[1];
        Assert.Equal(["user", "assistant", "user"], repair.Messages.Select(m => m.Role));
        Assert.Equal("Let me think. The answer is parvovirus.", repair.Messages[1].Content);
        Assert.Contains("no JSON object", repair.Messages[2].Content);
    }

    [Fact]
    public async Task MalformedTwiceIsAFailureWithTheRawText()
    {
        var script = new Script();
        script.Initial.Enqueue("I cannot answer in JSON.");
        script.Initial.Enqueue("{\"CoT\": [{\"action\": \"Final Conclusion\", \"content\": \"x\"}]}");
        var (result, _) = await RunAsync(script, new SearchOptions());

        Assert.Equal(SearchStatus.Failed, result.Status);
        Assert.Contains("malformed initial reasoning", result.FailureReason);
        Assert.Contains("at least Inner Thinking, Final Conclusion and Verification", result.FailureReason);
        Assert.Equal(["I cannot answer in JSON.", "{\"CoT\": [{\"action\": \"Final Conclusion\", \"content\": \"x\"}]}"], result.Steps.Single().RawOutputs);
    }

    [Fact]
    public async Task RefinementMustStartWithVerification()
    {
        var script = new Script();
        script.Initial.Enqueue(Scripts.Cot("Iron deficiency"));
        script.Refinements.Enqueue(Scripts.Cot("Parvovirus B19 infection", refinement: false));
        script.Refinements.Enqueue(Scripts.Cot("Parvovirus B19 infection", refinement: true));
        var (result, requests) = await RunAsync(script, new SearchOptions { MaxAttempts = 1 });

        Assert.Equal(SearchStatus.Verified, result.Status);
        Assert.Contains("must start with a \"Verification\" step", requests.Where(Scripts.IsRefinement).Last().Messages[^1].Content);
    }

    [Fact]
    public async Task JudgeDisagreementWithTheTextKeepsSearching()
    {
        var script = new Script();
        script.Initial.Enqueue(Scripts.Cot("Parvovirus B19 infection"));
        script.Refinements.Enqueue(Scripts.Cot("Parvovirus B19 infection causing aplastic crisis", refinement: true));
        script.Judge.Enqueue("False");
        script.Judge.Enqueue("{\"verdict\": \"True\"}");
        var (result, requests) = await RunAsync(script, new SearchOptions { MaxAttempts = 1 }, endpoint => new LlmJudgeVerifier(endpoint));

        Assert.Equal(SearchStatus.Verified, result.Status);
        var verdicts = result.Steps.Where(s => s.Verdict is not null).Select(s => s.Verdict!).ToList();
        Assert.Equal([false, true], verdicts.Select(v => v.IsCorrect));
        Assert.All(verdicts, v => Assert.Equal("llm-judge", v.Verifier));
        Assert.Equal("False", verdicts[0].RawOutput);
        Assert.Contains("<Reference Answer>\nParvovirus B19 infection", verdicts[0].Prompt);
        Assert.Equal("json_schema", requests.First(Scripts.IsJudge).ResponseFormatType);
        Assert.True(new RuleVerifier().Verify("Parvovirus B19 infection", Truth).IsCorrect, "the rule verifier would have accepted the first chain");
    }

    [Fact]
    public async Task UnclearJudgeGetsARepairTurnThenCountsAsNotVerified()
    {
        await using var server = await ScriptedChatServer.StartAsync([ScriptedReply.Text("It depends."), ScriptedReply.Text("Maybe true, maybe false.")]);
        using var endpoint = Scripts.Endpoint(server);
        var verdict = await new LlmJudgeVerifier(endpoint).VerifyAsync("x", "y");
        Assert.False(verdict.IsCorrect);
        Assert.Contains("neither True nor False", verdict.Reason);
        Assert.Equal(2, server.Requests.Count);
        Assert.Contains("exactly one word: True or False", server.Requests[1].LastUserMessage);
    }

    [Fact]
    public async Task EfficientSearchRevealsTheLabelAndMarksTheResult()
    {
        var script = new Script();
        script.Initial.Enqueue(Scripts.Cot("Iron deficiency"));
        script.Refinements.Enqueue(Scripts.Cot("Folate deficiency", refinement: true));
        script.Refinements.Enqueue(Scripts.Cot("Parvovirus B19 infection", refinement: true));
        var (result, requests) = await RunAsync(script, new SearchOptions { MaxDepth = 1, MaxAttempts = 1, EfficientSearch = true });

        Assert.Equal(SearchStatus.LabelGuided, result.Status);
        Assert.NotNull(result.Response);
        var guided = result.Steps.Single(s => s.Kind == SearchStepKind.LabelGuided);
        Assert.Null(guided.Verdict);
        Assert.Contains("the labelled answer is \"Parvovirus B19 infection\"", requests.Last(Scripts.IsRefinement).LastUserMessage);
    }

    [Fact]
    public async Task ReformatWithoutLineBreaksIsRepairedOnce()
    {
        var script = new Script();
        script.Initial.Enqueue(Scripts.Cot("Parvovirus B19 infection"));
        script.Reformat = Scripts.Natural("All on one line.");
        var (result, _) = await RunAsync(script, new SearchOptions());
        Assert.Equal(SearchStatus.Failed, result.Status);
        Assert.Contains("rewriting the verified reasoning failed", result.FailureReason);
        Assert.Equal(2, result.Steps.Single(s => s.Kind == SearchStepKind.Reformat).RawOutputs.Count);
    }

    [Fact]
    public async Task LlmErrorsPropagateSoTheItemCanBeRetried()
    {
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.ServerError());
        using var endpoint = Scripts.Endpoint(server, o => o with { MaxRetries = 1 });
        var search = new ReasoningPathSearch(endpoint, new RuleVerifier());
        await Assert.ThrowsAsync<LlmCallException>(() => search.SearchAsync(Question, Truth, 1));
    }

    [Fact]
    public void ReasoningShownToTheModelDropsOnlyTheLastVerification()
    {
        var chain = new List<CotStep> { new("Inner Thinking", "t", "a"), new("Final Conclusion", null, "b"), new("Verification", null, "c") };
        var shown = ReasoningPathSearch.ReasoningWithoutLastVerification(chain);
        Assert.Contains("\"b\"", shown);
        Assert.DoesNotContain("\"c\"", shown);
        Assert.DoesNotContain("\"title\": null", shown);
    }
}
