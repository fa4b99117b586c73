using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Prompts;

namespace HuatuoAspire.Reasoning.Construction;

/// <summary>
/// Prompts for turning exam questions into verifiable problems, after the HuatuoGPT-o1 method; the texts are Semantic
/// Kernel templates in Prompts/&lt;language&gt;/.
/// </summary>
public static class ConstructionPrompts
{
    /// <summary>
    /// The prompt a small model answers to measure difficulty. Construction keeps its filter and difficulty prompts in
    /// English for every run language (there is no Chinese version of them).
    /// </summary>
    public static Task<string> DifficultyAsync(MultipleChoiceQuestion question, CancellationToken cancellationToken = default) =>
        PromptLibrary.RenderAsync("construction-difficulty", PromptLanguage.En,
            new Dictionary<string, string> { ["question"] = question.FormatWithOptions() }, cancellationToken);

    public static JsonSchemaFormat DifficultySchema(MultipleChoiceQuestion question) => new("choice",
        $$$"""{"type":"object","properties":{"answer":{"type":"string","enum":[{{{string.Join(",", question.Options.Select(o => $"\"{o.Key}\""))}}}]}},"required":["answer"],"additionalProperties":false}""");

    /// <summary>The prompt of the LLM filter that keeps questions needing deep reasoning with one unambiguous answer.</summary>
    public static Task<string> FilterAsync(MultipleChoiceQuestion question, CancellationToken cancellationToken = default) =>
        PromptLibrary.RenderAsync("construction-filter", PromptLanguage.En,
            new Dictionary<string, string> { ["question"] = question.FormatWithOptions(), ["answer"] = question.Answer }, cancellationToken);

    public static readonly JsonSchemaFormat FilterSchema = new("filter_verdict",
        """{"type":"object","properties":{"verdict":{"type":"string","enum":["Pass","Too Simple","Ambiguous Answer","Not Reformulatable"]}},"required":["verdict"],"additionalProperties":false}""");

    /// <summary>
    /// The rewrite prompt in <paramref name="language"/>. zh follows the reference's Chinese-version convention (its
    /// search script keeps English instructions and asks for the JSON fields in Chinese); the reference ships no
    /// construction prompt in Chinese, so this is ours, a Semantic Kernel template in Prompts/zh/.
    /// </summary>
    public static Task<string> RewriteAsync(PromptLanguage language, MultipleChoiceQuestion question, CancellationToken cancellationToken = default) =>
        PromptLibrary.RenderAsync("construction-rewrite", language,
            new Dictionary<string, string> { ["question"] = question.FormatWithOptions(), ["answer"] = question.Answer }, cancellationToken);

    public static readonly JsonSchemaFormat RewriteSchema = new("verifiable_problem",
        """{"type":"object","properties":{"Open-ended Verifiable Question":{"type":"string"},"Ground-True Answer":{"type":"string"}},"required":["Open-ended Verifiable Question","Ground-True Answer"],"additionalProperties":false}""");
}
