using HuatuoAspire.Domain.Search;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Prompts;

namespace HuatuoAspire.Reasoning.Search;

/// <summary>
/// The prompts of the reasoning-path search. They follow the method of HuatuoGPT-o1 (a JSON chain of thought of
/// Inner Thinking / Final Conclusion / Verification actions, refined with one strategy at a time).
/// </summary>
public static class SearchPrompts
{
    private const string ActionRules = """
        Your answer is a sequence of steps. Each step is one of three actions:
        - "Inner Thinking": one piece of the reasoning, with a short title saying what the step does. Use several of these to reason thoroughly.
        - "Final Conclusion": sum up the sound reasoning of the Inner Thinking steps and state the final answer. No title.
        - "Verification": check the Final Conclusion. If it holds, the process ends; if it does not, reasoning continues with new Inner Thinking. No title.
        """;

    public static string Initial(string question) => $$"""
        <question>
        {{question}}
        </question>

        Answer the <question> above by reasoning step by step (chain of thought).
        {{ActionRules}}

        Write the output as JSON in exactly this structure (title is "" for Final Conclusion and Verification):
        ```json
        {
        "CoT": [
            {"action": "Inner Thinking", "title": "...", "content": "..."},
            ...,
            {"action": "Final Conclusion", "title": "", "content": "..."},
            {"action": "Verification", "title": "", "content": "..."}
        ]
        }
        ```
        """;

    private static string StrategyInstruction(SearchStrategy strategy) => strategy switch
    {
        SearchStrategy.Backtracking => "Refine the reasoning by **backtracking**: go back to an earlier point of the reasoning where it went wrong and rebuild from there towards a new Final Conclusion.",
        SearchStrategy.ExploringNewPaths => "Refine the reasoning by **exploring a new path**: approach the problem from a different angle than before and reach a new Final Conclusion.",
        SearchStrategy.Verification => "Refine the reasoning by **verifying** it thoroughly: check each claim and inference of the previous reasoning, find what does not hold, and reach a new Final Conclusion.",
        SearchStrategy.Correction => "Refine the reasoning by **correcting** it: name the specific mistakes of the previous reasoning, fix them precisely and reach a new Final Conclusion.",
        _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy, null),
    };

    private static string Continuation(string question, string previousReasoning, string task) => $$"""
        <question>
        {{question}}
        </question>

        <previous reasoning>
        {{previousReasoning}}
        </previous reasoning>

        <response requirements>
        {{ActionRules}}
        </response requirements>

        <question> is the question to answer and <previous reasoning> is your reasoning so far, which stops before its last Verification step. {{task}}

        ### Output format
        Do not repeat the previous reasoning. Start directly with the next "Verification" step and follow exactly this JSON structure (title is "" for Final Conclusion and Verification):
        ```json
        {
        "CoT": [
            {"action": "Verification", "title": "", "content": "..."},
            {"action": "Inner Thinking", "title": "...", "content": "..."},
            ...,
            {"action": "Final Conclusion", "title": "", "content": "..."},
            {"action": "Verification", "title": "", "content": "..."}
        ]
        }
        ```
        """;

    public static string Refinement(SearchStrategy strategy, string question, string previousReasoning) =>
        Continuation(question, previousReasoning,
            "Continue from the Verification step. I have checked the reasoning and the **Final Conclusion is wrong**; your Verification must agree with that. " +
            StrategyInstruction(strategy));

    /// <summary>The reference's "efficient search": the label is revealed, so the result is label-guided and not verified.</summary>
    public static string LabelGuided(string question, string previousReasoning, string label) =>
        Continuation(question, previousReasoning,
            $"Continue from the Verification step. In confidence: the labelled answer is \"{label}\", but reason as if you did not know it. " +
            "Verify carefully; if the conclusion is wrong, add new Inner Thinking steps and a new Final Conclusion that arrive at the correct answer.");

    public static string Reformat(string thoughtProcess, string question) => $$"""
        <Thought Process>
        {{thoughtProcess}}
        </Thought Process>

        <Question>
        {{question}}
        </Question>

        The <Thought Process> is a model's reasoning about the <Question>. Rewrite it as a natural, human-like, first-person train of thought:
        1. Reason step by step, one thought per line, separated by line breaks.
        2. No headings or structured titles; use natural transitions and self-checks such as "hmm", "oh", "also", "wait".
        3. Make the reasoning richer and more detailed while keeping it logically clear, conversational and intuitive.

        Return only the rewritten reasoning as JSON:
        ```json
        {
          "NaturalReasoning": "..."
        }
        ```
        """;

    public static readonly JsonSchemaFormat ReformatSchema = new("natural_reasoning",
        """{"type":"object","properties":{"NaturalReasoning":{"type":"string"}},"required":["NaturalReasoning"],"additionalProperties":false}""");

    public static string FinalResponse(string complexCot, string question) => $"""
        <Internal Thinking>
        {complexCot}
        </Internal Thinking>

        <Question>
        {question}
        </Question>

        The <Internal Thinking> is your own thinking about the <Question>. Based on it, write a rich, high-quality final response for the user. If there is a clear answer, state it first. Keep the response focused on the <Question>. Output only the final response, nothing else.
        """;

    /// <summary>The initial chain-of-thought prompt in <paramref name="language"/> (zh: the reference's Chinese-version template).</summary>
    public static Task<string> InitialAsync(PromptLanguage language, string question, CancellationToken cancellationToken = default) =>
        language == PromptLanguage.En
            ? Task.FromResult(Initial(question))
            : PromptLibrary.RenderAsync("initial", language, new Dictionary<string, string> { ["question"] = question }, cancellationToken);

    public static Task<string> RefinementAsync(PromptLanguage language, SearchStrategy strategy, string question, string previousReasoning, CancellationToken cancellationToken = default) =>
        language == PromptLanguage.En
            ? Task.FromResult(Refinement(strategy, question, previousReasoning))
            : PromptLibrary.RenderAsync(strategy switch
            {
                SearchStrategy.Backtracking => "refine-backtracking",
                SearchStrategy.ExploringNewPaths => "refine-exploring-new-paths",
                SearchStrategy.Verification => "refine-verification",
                SearchStrategy.Correction => "refine-correction",
                _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy, null),
            }, language, new Dictionary<string, string> { ["question"] = question, ["previous_reasoning"] = previousReasoning }, cancellationToken);

    public static Task<string> LabelGuidedAsync(PromptLanguage language, string question, string previousReasoning, string label, CancellationToken cancellationToken = default) =>
        language == PromptLanguage.En
            ? Task.FromResult(LabelGuided(question, previousReasoning, label))
            : PromptLibrary.RenderAsync("label-guided", language,
                new Dictionary<string, string> { ["question"] = question, ["previous_reasoning"] = previousReasoning, ["label"] = label }, cancellationToken);

    public static Task<string> ReformatAsync(PromptLanguage language, string thoughtProcess, string question, CancellationToken cancellationToken = default) =>
        language == PromptLanguage.En
            ? Task.FromResult(Reformat(thoughtProcess, question))
            : PromptLibrary.RenderAsync("reformat", language, new Dictionary<string, string> { ["thought_process"] = thoughtProcess, ["question"] = question }, cancellationToken);

    public static Task<string> FinalResponseAsync(PromptLanguage language, string complexCot, string question, CancellationToken cancellationToken = default) =>
        language == PromptLanguage.En
            ? Task.FromResult(FinalResponse(complexCot, question))
            : PromptLibrary.RenderAsync("final-response", language, new Dictionary<string, string> { ["internal_thinking"] = complexCot, ["question"] = question }, cancellationToken);

    /// <summary>The chain as headed sections ("### title"), the form the reformat prompt reads.</summary>
    public static string StreamOfSearch(IEnumerable<CotStep> steps) => string.Join("\n\n", steps.Select(step =>
        step.Action == CotStep.InnerThinking && step.Title is not null
            ? $"### {step.Title}\n{step.Content}"
            : $"### {(step.Action == CotStep.FinalConclusion ? "Conclusion" : step.Action)}\n{step.Content}"));
}
