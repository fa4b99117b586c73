using HuatuoAspire.Domain.Search;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Prompts;

namespace HuatuoAspire.Reasoning.Search;

/// <summary>
/// The prompts of the reasoning-path search. They follow the method of HuatuoGPT-o1 (a JSON chain of thought of
/// Inner Thinking / Final Conclusion / Verification actions, refined with one strategy at a time). The texts are Semantic Kernel templates in Prompts/&lt;language&gt;/.
/// </summary>
public static class SearchPrompts
{
    /// <summary>The initial chain-of-thought prompt in <paramref name="language"/> (zh: the reference's Chinese-version template).</summary>
    public static Task<string> InitialAsync(PromptLanguage language, string question, CancellationToken cancellationToken = default) =>
        PromptLibrary.RenderAsync("initial", language, new Dictionary<string, string> { ["question"] = question }, cancellationToken);

    /// <summary>The prompt that continues a reasoning the verifier rejected, refined with <paramref name="strategy"/>.</summary>
    public static Task<string> RefinementAsync(PromptLanguage language, SearchStrategy strategy, string question, string previousReasoning, CancellationToken cancellationToken = default) =>
        PromptLibrary.RenderAsync(strategy switch
        {
            SearchStrategy.Backtracking => "refine-backtracking",
            SearchStrategy.ExploringNewPaths => "refine-exploring-new-paths",
            SearchStrategy.Verification => "refine-verification",
            SearchStrategy.Correction => "refine-correction",
            _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy, null),
        }, language, new Dictionary<string, string> { ["question"] = question, ["previous_reasoning"] = previousReasoning }, cancellationToken);

    /// <summary>The reference's "efficient search": the label is revealed, so the result is label-guided and not verified.</summary>
    public static Task<string> LabelGuidedAsync(PromptLanguage language, string question, string previousReasoning, string label, CancellationToken cancellationToken = default) =>
        PromptLibrary.RenderAsync("label-guided", language,
            new Dictionary<string, string> { ["question"] = question, ["previous_reasoning"] = previousReasoning, ["label"] = label }, cancellationToken);

    public static Task<string> ReformatAsync(PromptLanguage language, string thoughtProcess, string question, CancellationToken cancellationToken = default) =>
        PromptLibrary.RenderAsync("reformat", language, new Dictionary<string, string> { ["thought_process"] = thoughtProcess, ["question"] = question }, cancellationToken);

    public static readonly JsonSchemaFormat ReformatSchema = new("natural_reasoning",
        """{"type":"object","properties":{"NaturalReasoning":{"type":"string"}},"required":["NaturalReasoning"],"additionalProperties":false}""");

    public static Task<string> FinalResponseAsync(PromptLanguage language, string complexCot, string question, CancellationToken cancellationToken = default) =>
        PromptLibrary.RenderAsync("final-response", language, new Dictionary<string, string> { ["internal_thinking"] = complexCot, ["question"] = question }, cancellationToken);

    /// <summary>The chain as headed sections ("### title"), the form the reformat prompt reads.</summary>
    public static string StreamOfSearch(IEnumerable<CotStep> steps) => string.Join("\n\n", steps.Select(step =>
        step.Action == CotStep.InnerThinking && step.Title is not null
            ? $"### {step.Title}\n{step.Content}"
            : $"### {(step.Action == CotStep.FinalConclusion ? "Conclusion" : step.Action)}\n{step.Content}"));
}
