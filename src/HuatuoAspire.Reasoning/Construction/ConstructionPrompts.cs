using HuatuoAspire.Reasoning.Llm;

namespace HuatuoAspire.Reasoning.Construction;

/// <summary>Prompts for turning exam questions into verifiable problems, after the HuatuoGPT-o1 method.</summary>
public static class ConstructionPrompts
{
    public static string Difficulty(MultipleChoiceQuestion question) => $$"""
        {{question.FormatWithOptions()}}

        Answer the multiple-choice question above. Reply with JSON only: {"answer": "<letter of the correct option>"}
        """;

    public static JsonSchemaFormat DifficultySchema(MultipleChoiceQuestion question) => new("choice",
        $$$"""{"type":"object","properties":{"answer":{"type":"string","enum":[{{{string.Join(",", question.Options.Select(o => $"\"{o.Key}\""))}}}]}},"required":["answer"],"additionalProperties":false}""");

    public static string Filter(MultipleChoiceQuestion question) => $$"""
        <Multiple-choice Question>
        {{question.FormatWithOptions()}}
        Correct Answer: {{question.Answer}}
        </Multiple-choice Question>

        You select multiple-choice questions for training advanced medical reasoning. Judge the question against these criteria:
        1. **Depth of reasoning:** answering it must take real reasoning. If it is too easy, the verdict is "Too Simple".
        2. **One unambiguous answer:** it must have exactly one clearly correct answer. If it asks for the incorrect option ("which is NOT ...", "all except ...") or allows several correct answers, the verdict is "Ambiguous Answer".
        3. **Open-ended reformulation:** it must be possible to rewrite it as an open-ended question with a clear ground-truth answer. If not, the verdict is "Not Reformulatable".

        Give exactly one verdict: "Pass" (all criteria met), "Too Simple", "Ambiguous Answer" or "Not Reformulatable".
        Reply with JSON only: {"verdict": "..."}
        """;

    public static readonly JsonSchemaFormat FilterSchema = new("filter_verdict",
        """{"type":"object","properties":{"verdict":{"type":"string","enum":["Pass","Too Simple","Ambiguous Answer","Not Reformulatable"]}},"required":["verdict"],"additionalProperties":false}""");

    public static string Rewrite(MultipleChoiceQuestion question) => $$"""
        Rewrite the multiple-choice question below as an open-ended question, and give its Ground-True Answer:

        1. The question must be specific and target exactly the point the multiple-choice question tests. It is open-ended: no options are shown, yet it has one definitive answer.
        2. From the correct option, write a concise Ground-True Answer that allows a model's answer to be matched precisely.

        <Multiple-choice Question>
        {{question.FormatWithOptions()}}
        Correct Answer: {{question.Answer}}
        </Multiple-choice Question>

        Output exactly this JSON object, with these two fields and nothing else:
        ```json
        {
        "Open-ended Verifiable Question": "...",
        "Ground-True Answer": "..."
        }
        ```
        """;

    /// <summary>
    /// The rewrite prompt in <paramref name="language"/>. zh follows the reference's Chinese-version convention (its
    /// search script keeps English instructions and asks for the JSON fields in Chinese); the reference ships no
    /// construction prompt in Chinese, so this is ours, a Semantic Kernel template in Prompts/zh/.
    /// </summary>
    public static Task<string> RewriteAsync(Prompts.PromptLanguage language, MultipleChoiceQuestion question, CancellationToken cancellationToken = default) =>
        language == Prompts.PromptLanguage.En
            ? Task.FromResult(Rewrite(question))
            : Prompts.PromptLibrary.RenderAsync("construction-rewrite", language,
                new Dictionary<string, string> { ["question"] = question.FormatWithOptions(), ["answer"] = question.Answer }, cancellationToken);

    public static readonly JsonSchemaFormat RewriteSchema = new("verifiable_problem",
        """{"type":"object","properties":{"Open-ended Verifiable Question":{"type":"string"},"Ground-True Answer":{"type":"string"}},"required":["Open-ended Verifiable Question","Ground-True Answer"],"additionalProperties":false}""");
}
