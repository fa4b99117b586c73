using System.Collections.Concurrent;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Prompts;
using HuatuoAspire.Reasoning.Search;
using HuatuoAspire.Reasoning.Verification;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Reasoning.UnitTests;

/// <summary>The reference's search modes against a scripted endpoint, asserting the prompts actually sent.</summary>
public sealed class SearchModesTests
{
    private const string Question = "A man with sickle cell disease has sudden anemia with reticulocytes of 0.4%. What infection is the likely cause?";
    private const string Truth = "Parvovirus B19 infection";

    private sealed class Script
    {
        public ConcurrentQueue<string> Initial { get; } = new();
        public ConcurrentQueue<string> Refinements { get; } = new();

        public ScriptedReply Answer(RecordedRequest request)
        {
            string? text = null;
            if (Scripts.IsRefinement(request)) Refinements.TryDequeue(out text);
            else if (Scripts.IsInitial(request)) Initial.TryDequeue(out text);
            else if (Scripts.IsReformat(request)) text = Scripts.Natural();
            else if (Scripts.IsFinalResponse(request)) text = "Parvovirus B19 infection.";
            return text is null ? ScriptedReply.BadRequest("unscripted request") : ScriptedReply.Text(text);
        }
    }

    private static async Task<(SearchResult Result, IReadOnlyList<RecordedRequest> Requests)> RunAsync(Script script, SearchOptions options)
    {
        await using var server = await ScriptedChatServer.StartAsync(script.Answer);
        using var endpoint = Scripts.Endpoint(server);
        var result = await new ReasoningPathSearch(endpoint, new RuleVerifier(), options).SearchAsync(Question, Truth, 1);
        return (result, server.Requests);
    }

    private static string PreviousReasoning(RecordedRequest request)
    {
        var prompt = Scripts.Prompt(request);
        var start = prompt.IndexOf("<previous reasoning>", StringComparison.Ordinal) + "<previous reasoning>".Length;
        return prompt[start..prompt.IndexOf("</previous reasoning>", start, StringComparison.Ordinal)];
    }

    [Fact]
    public void TheReferenceEfficientDefaultsAreDepthTwoOneAttemptLabelGuidedAndARestartFromTheFirstChain()
    {
        var options = SearchOptions.ReferenceEfficient;
        Assert.Equal((2, 1, true, true), (options.MaxDepth, options.MaxAttempts, options.EfficientSearch, options.ReuseInitialReasoning));
        Assert.Equal(PromptLanguage.En, options.Language);
    }

    [Fact]
    public async Task AnEfficientSearchThatNeverVerifiesRevealsTheLabelOnceAfterTheReferenceDepth()
    {
        var script = new Script();
        script.Initial.Enqueue(Scripts.Cot("Iron deficiency."));
        script.Refinements.Enqueue(Scripts.Cot("Folate deficiency.", refinement: true));
        script.Refinements.Enqueue(Scripts.Cot("Hemolysis.", refinement: true));
        script.Refinements.Enqueue(Scripts.Cot("Parvovirus B19 infection.", refinement: true));
        var (result, requests) = await RunAsync(script, SearchOptions.ReferenceEfficient);

        Assert.Equal(SearchStatus.LabelGuided, result.Status);
        Assert.Equal([SearchStepKind.InitialReasoning, SearchStepKind.Refinement, SearchStepKind.Refinement, SearchStepKind.LabelGuided,
            SearchStepKind.Reformat, SearchStepKind.FinalResponse], result.Steps.Select(s => s.Kind));
        var prompts = requests.Select(Scripts.Prompt).ToList();
        Assert.Equal(6, prompts.Count);
        Assert.DoesNotContain(Truth, prompts[1]);
        Assert.DoesNotContain(Truth, prompts[2]);
        Assert.Contains($"the labelled answer is \"{Truth}\"", prompts[3]);
    }

    [Fact]
    public async Task ARestartedAttemptReusesTheFirstChainOfThoughtWhenAsked()
    {
        var script = new Script();
        script.Initial.Enqueue(Scripts.Cot("Iron deficiency."));
        script.Initial.Enqueue(Scripts.Cot("A second, fresh chain."));
        script.Refinements.Enqueue(Scripts.Cot("Folate deficiency.", refinement: true));
        script.Refinements.Enqueue(Scripts.Cot("Parvovirus B19 infection.", refinement: true));
        var (result, requests) = await RunAsync(script, new SearchOptions { MaxDepth = 1, MaxAttempts = 2, ReuseInitialReasoning = true });

        Assert.Equal(SearchStatus.Verified, result.Status);
        // One initial chain only; the second attempt's refinement continues from it, exactly as the first did.
        Assert.Single(requests, Scripts.IsInitial);
        var refinements = requests.Where(Scripts.IsRefinement).ToList();
        Assert.Equal(2, refinements.Count);
        Assert.Contains("Iron deficiency.", PreviousReasoning(refinements[1]));
        Assert.Equal(PreviousReasoning(refinements[0]), PreviousReasoning(refinements[1]));
        Assert.Equal([1, 2], result.Steps.Where(s => s.Kind == SearchStepKind.Refinement).Select(s => s.Attempt));

        // Without the option the second attempt asks for a new chain and continues from that one.
        var fresh = new Script();
        fresh.Initial.Enqueue(Scripts.Cot("Iron deficiency."));
        fresh.Initial.Enqueue(Scripts.Cot("A second, fresh chain."));
        fresh.Refinements.Enqueue(Scripts.Cot("Folate deficiency.", refinement: true));
        fresh.Refinements.Enqueue(Scripts.Cot("Parvovirus B19 infection.", refinement: true));
        var (_, freshRequests) = await RunAsync(fresh, new SearchOptions { MaxDepth = 1, MaxAttempts = 2 });
        Assert.Equal(2, freshRequests.Count(Scripts.IsInitial));
        Assert.Contains("A second, fresh chain.", PreviousReasoning(freshRequests.Where(Scripts.IsRefinement).Last()));
    }

    [Fact]
    public async Task AChineseRunSendsTheReferenceChineseVersionPromptsAtEveryStage()
    {
        var script = new Script();
        script.Initial.Enqueue(Scripts.Cot("Iron deficiency."));
        script.Refinements.Enqueue(Scripts.Cot("Parvovirus B19 infection.", refinement: true));
        var (result, requests) = await RunAsync(script, new SearchOptions { MaxDepth = 1, MaxAttempts = 1, Language = PromptLanguage.Zh });

        Assert.Equal(SearchStatus.Verified, result.Status);
        var prompts = requests.Select(Scripts.Prompt).ToList();
        Assert.Equal(4, prompts.Count);
        // search_for_complex_reasoning_path_chinese_version.py, with the question and reasoning inserted as written.
        Assert.StartsWith($"<question>\n{Question}\n</question>\n\nPlease respond to the above question <question> using the Chain of Thought (CoT) reasoning method.", prompts[0]);
        Assert.Contains("The output format must strictly follow the JSON structure below, and all content within the JSON fields should be written in **Chinese**:", prompts[0]);
        Assert.Contains("    {\"action\": \"Final Conclusion\", \"content\": \"...\"},", prompts[0]);
        Assert.Contains("Strictly follow the JSON structure below. All content within the JSON fields must be written in **Chinese**.", prompts[1]);
        Assert.Contains("\"Iron deficiency.\"", prompts[1]);
        Assert.Contains("to resemble a more human-like, intuitive natural thinking process in Chinese.", prompts[2]);
        Assert.Contains("generate a rich and high-quality final response to the user in Chinese.", prompts[3]);
        Assert.DoesNotContain(prompts, p => p.Contains("{{", StringComparison.Ordinal) || p.Contains("$question", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PromptInputsAreInsertedAsWrittenNotEncoded()
    {
        const string question = "Is Na < 135 & K > 5.5 \"hyperkalaemia\"? {{$label}}";
        var prompt = await SearchPrompts.LabelGuidedAsync(PromptLanguage.Zh, question, "[]", "<b>yes</b>");
        Assert.Contains(question, prompt);
        Assert.Contains("the labeled answer is \"<b>yes</b>\"", prompt);
        Assert.Throws<ArgumentException>(() => PromptLanguages.Parse("fr"));
        Assert.Equal(PromptLanguage.Zh, PromptLanguages.Parse("ZH"));
    }
}
