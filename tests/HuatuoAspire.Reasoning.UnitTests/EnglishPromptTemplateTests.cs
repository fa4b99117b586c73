using HuatuoAspire.Domain.Search;
using HuatuoAspire.Reasoning.Construction;
using HuatuoAspire.Reasoning.Prompts;
using HuatuoAspire.Reasoning.Search;
using HuatuoAspire.Reasoning.Verification;

namespace HuatuoAspire.Reasoning.UnitTests;

/// <summary>
/// The English prompts are Semantic Kernel templates in Prompts/en/. The expected texts are what the former C# string
/// prompts produced for the same inputs (captured before the move), so the move changed no byte. The inputs carry
/// braces, template syntax, markup, ampersands and quotes: they come out as written, neither encoded nor interpreted.
/// </summary>
public class EnglishPromptTemplateTests
{
    private const string Question = "Is {x} {{$y}} <b>&amp; \"quoted\" 'single'</b> {{ $z }}?\nSecond line }} {";
    private const string Reasoning = "[{\"action\": \"Inner Thinking\", \"title\": \"<t>&\", \"content\": \"{{$question}} }\"}]";
    private const string Label = "<b>\"A & B\"</b> {{x}}";

    private static readonly MultipleChoiceQuestion ExamQuestion =
        new(Question, [new("A", "{a} & <b>"), new("B", "\"b\" {{$c}}")], "B", "\"b\" {{$c}}");

    [Fact]
    public async Task TheInitialPromptRendersAsTheFormerStringDid() =>
        Assert.Equal(ExpectedInitial, await SearchPrompts.InitialAsync(PromptLanguage.En, Question));

    [Theory]
    [InlineData(SearchStrategy.Backtracking, ExpectedRefineBacktracking)]
    [InlineData(SearchStrategy.ExploringNewPaths, ExpectedRefineExploringNewPaths)]
    [InlineData(SearchStrategy.Verification, ExpectedRefineVerification)]
    [InlineData(SearchStrategy.Correction, ExpectedRefineCorrection)]
    public async Task EachRefinementPromptRendersAsTheFormerStringDid(SearchStrategy strategy, string expected) =>
        Assert.Equal(expected, await SearchPrompts.RefinementAsync(PromptLanguage.En, strategy, Question, Reasoning));

    [Fact]
    public async Task TheLabelGuidedPromptRendersAsTheFormerStringDid() =>
        Assert.Equal(ExpectedLabelGuided, await SearchPrompts.LabelGuidedAsync(PromptLanguage.En, Question, Reasoning, Label));

    [Fact]
    public async Task TheReformatPromptRendersAsTheFormerStringDid() =>
        Assert.Equal(ExpectedReformat, await SearchPrompts.ReformatAsync(PromptLanguage.En, Reasoning, Question));

    [Fact]
    public async Task TheFinalResponsePromptRendersAsTheFormerStringDid() =>
        Assert.Equal(ExpectedFinalResponse, await SearchPrompts.FinalResponseAsync(PromptLanguage.En, Reasoning, Question));

    [Fact]
    public async Task TheConstructionFilterPromptRendersAsTheFormerStringDid() =>
        Assert.Equal(ExpectedConstructionFilter, await ConstructionPrompts.FilterAsync(ExamQuestion));

    [Fact]
    public async Task TheConstructionRewritePromptRendersAsTheFormerStringDid() =>
        Assert.Equal(ExpectedConstructionRewrite, await ConstructionPrompts.RewriteAsync(PromptLanguage.En, ExamQuestion));

    [Fact]
    public async Task TheConstructionDifficultyPromptRendersAsTheFormerStringDid() =>
        Assert.Equal(ExpectedConstructionDifficulty, await ConstructionPrompts.DifficultyAsync(ExamQuestion));

    [Fact]
    public async Task TheJudgePromptRendersAsTheFormerStringDid() =>
        Assert.Equal(ExpectedJudge, await LlmJudgeVerifier.PromptAsync(Reasoning, Label));

    private const string ExpectedInitial = """"
            <question>
            Is {x} {{$y}} <b>&amp; "quoted" 'single'</b> {{ $z }}?
            Second line }} {
            </question>

            Answer the <question> above by reasoning step by step (chain of thought).
            Your answer is a sequence of steps. Each step is one of three actions:
            - "Inner Thinking": one piece of the reasoning, with a short title saying what the step does. Use several of these to reason thoroughly.
            - "Final Conclusion": sum up the sound reasoning of the Inner Thinking steps and state the final answer. No title.
            - "Verification": check the Final Conclusion. If it holds, the process ends; if it does not, reasoning continues with new Inner Thinking. No title.

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
            """";

    private const string ExpectedRefineBacktracking = """"
            <question>
            Is {x} {{$y}} <b>&amp; "quoted" 'single'</b> {{ $z }}?
            Second line }} {
            </question>

            <previous reasoning>
            [{"action": "Inner Thinking", "title": "<t>&", "content": "{{$question}} }"}]
            </previous reasoning>

            <response requirements>
            Your answer is a sequence of steps. Each step is one of three actions:
            - "Inner Thinking": one piece of the reasoning, with a short title saying what the step does. Use several of these to reason thoroughly.
            - "Final Conclusion": sum up the sound reasoning of the Inner Thinking steps and state the final answer. No title.
            - "Verification": check the Final Conclusion. If it holds, the process ends; if it does not, reasoning continues with new Inner Thinking. No title.
            </response requirements>

            <question> is the question to answer and <previous reasoning> is your reasoning so far, which stops before its last Verification step. Continue from the Verification step. I have checked the reasoning and the **Final Conclusion is wrong**; your Verification must agree with that. Refine the reasoning by **backtracking**: go back to an earlier point of the reasoning where it went wrong and rebuild from there towards a new Final Conclusion.

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
            """";

    private const string ExpectedRefineExploringNewPaths = """"
            <question>
            Is {x} {{$y}} <b>&amp; "quoted" 'single'</b> {{ $z }}?
            Second line }} {
            </question>

            <previous reasoning>
            [{"action": "Inner Thinking", "title": "<t>&", "content": "{{$question}} }"}]
            </previous reasoning>

            <response requirements>
            Your answer is a sequence of steps. Each step is one of three actions:
            - "Inner Thinking": one piece of the reasoning, with a short title saying what the step does. Use several of these to reason thoroughly.
            - "Final Conclusion": sum up the sound reasoning of the Inner Thinking steps and state the final answer. No title.
            - "Verification": check the Final Conclusion. If it holds, the process ends; if it does not, reasoning continues with new Inner Thinking. No title.
            </response requirements>

            <question> is the question to answer and <previous reasoning> is your reasoning so far, which stops before its last Verification step. Continue from the Verification step. I have checked the reasoning and the **Final Conclusion is wrong**; your Verification must agree with that. Refine the reasoning by **exploring a new path**: approach the problem from a different angle than before and reach a new Final Conclusion.

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
            """";

    private const string ExpectedRefineVerification = """"
            <question>
            Is {x} {{$y}} <b>&amp; "quoted" 'single'</b> {{ $z }}?
            Second line }} {
            </question>

            <previous reasoning>
            [{"action": "Inner Thinking", "title": "<t>&", "content": "{{$question}} }"}]
            </previous reasoning>

            <response requirements>
            Your answer is a sequence of steps. Each step is one of three actions:
            - "Inner Thinking": one piece of the reasoning, with a short title saying what the step does. Use several of these to reason thoroughly.
            - "Final Conclusion": sum up the sound reasoning of the Inner Thinking steps and state the final answer. No title.
            - "Verification": check the Final Conclusion. If it holds, the process ends; if it does not, reasoning continues with new Inner Thinking. No title.
            </response requirements>

            <question> is the question to answer and <previous reasoning> is your reasoning so far, which stops before its last Verification step. Continue from the Verification step. I have checked the reasoning and the **Final Conclusion is wrong**; your Verification must agree with that. Refine the reasoning by **verifying** it thoroughly: check each claim and inference of the previous reasoning, find what does not hold, and reach a new Final Conclusion.

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
            """";

    private const string ExpectedRefineCorrection = """"
            <question>
            Is {x} {{$y}} <b>&amp; "quoted" 'single'</b> {{ $z }}?
            Second line }} {
            </question>

            <previous reasoning>
            [{"action": "Inner Thinking", "title": "<t>&", "content": "{{$question}} }"}]
            </previous reasoning>

            <response requirements>
            Your answer is a sequence of steps. Each step is one of three actions:
            - "Inner Thinking": one piece of the reasoning, with a short title saying what the step does. Use several of these to reason thoroughly.
            - "Final Conclusion": sum up the sound reasoning of the Inner Thinking steps and state the final answer. No title.
            - "Verification": check the Final Conclusion. If it holds, the process ends; if it does not, reasoning continues with new Inner Thinking. No title.
            </response requirements>

            <question> is the question to answer and <previous reasoning> is your reasoning so far, which stops before its last Verification step. Continue from the Verification step. I have checked the reasoning and the **Final Conclusion is wrong**; your Verification must agree with that. Refine the reasoning by **correcting** it: name the specific mistakes of the previous reasoning, fix them precisely and reach a new Final Conclusion.

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
            """";

    private const string ExpectedLabelGuided = """"
            <question>
            Is {x} {{$y}} <b>&amp; "quoted" 'single'</b> {{ $z }}?
            Second line }} {
            </question>

            <previous reasoning>
            [{"action": "Inner Thinking", "title": "<t>&", "content": "{{$question}} }"}]
            </previous reasoning>

            <response requirements>
            Your answer is a sequence of steps. Each step is one of three actions:
            - "Inner Thinking": one piece of the reasoning, with a short title saying what the step does. Use several of these to reason thoroughly.
            - "Final Conclusion": sum up the sound reasoning of the Inner Thinking steps and state the final answer. No title.
            - "Verification": check the Final Conclusion. If it holds, the process ends; if it does not, reasoning continues with new Inner Thinking. No title.
            </response requirements>

            <question> is the question to answer and <previous reasoning> is your reasoning so far, which stops before its last Verification step. Continue from the Verification step. In confidence: the labelled answer is "<b>"A & B"</b> {{x}}", but reason as if you did not know it. Verify carefully; if the conclusion is wrong, add new Inner Thinking steps and a new Final Conclusion that arrive at the correct answer.

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
            """";

    private const string ExpectedReformat = """"
            <Thought Process>
            [{"action": "Inner Thinking", "title": "<t>&", "content": "{{$question}} }"}]
            </Thought Process>

            <Question>
            Is {x} {{$y}} <b>&amp; "quoted" 'single'</b> {{ $z }}?
            Second line }} {
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
            """";

    private const string ExpectedFinalResponse = """"
            <Internal Thinking>
            [{"action": "Inner Thinking", "title": "<t>&", "content": "{{$question}} }"}]
            </Internal Thinking>

            <Question>
            Is {x} {{$y}} <b>&amp; "quoted" 'single'</b> {{ $z }}?
            Second line }} {
            </Question>

            The <Internal Thinking> is your own thinking about the <Question>. Based on it, write a rich, high-quality final response for the user. If there is a clear answer, state it first. Keep the response focused on the <Question>. Output only the final response, nothing else.
            """";

    private const string ExpectedConstructionFilter = """"
            <Multiple-choice Question>
            Is {x} {{$y}} <b>&amp; "quoted" 'single'</b> {{ $z }}?
            Second line }} {
            A. {a} & <b>
            B. "b" {{$c}}
            Correct Answer: "b" {{$c}}
            </Multiple-choice Question>

            You select multiple-choice questions for training advanced medical reasoning. Judge the question against these criteria:
            1. **Depth of reasoning:** answering it must take real reasoning. If it is too easy, the verdict is "Too Simple".
            2. **One unambiguous answer:** it must have exactly one clearly correct answer. If it asks for the incorrect option ("which is NOT ...", "all except ...") or allows several correct answers, the verdict is "Ambiguous Answer".
            3. **Open-ended reformulation:** it must be possible to rewrite it as an open-ended question with a clear ground-truth answer. If not, the verdict is "Not Reformulatable".

            Give exactly one verdict: "Pass" (all criteria met), "Too Simple", "Ambiguous Answer" or "Not Reformulatable".
            Reply with JSON only: {"verdict": "..."}
            """";

    private const string ExpectedConstructionRewrite = """"
            Rewrite the multiple-choice question below as an open-ended question, and give its Ground-True Answer:

            1. The question must be specific and target exactly the point the multiple-choice question tests. It is open-ended: no options are shown, yet it has one definitive answer.
            2. From the correct option, write a concise Ground-True Answer that allows a model's answer to be matched precisely.

            <Multiple-choice Question>
            Is {x} {{$y}} <b>&amp; "quoted" 'single'</b> {{ $z }}?
            Second line }} {
            A. {a} & <b>
            B. "b" {{$c}}
            Correct Answer: "b" {{$c}}
            </Multiple-choice Question>

            Output exactly this JSON object, with these two fields and nothing else:
            ```json
            {
            "Open-ended Verifiable Question": "...",
            "Ground-True Answer": "..."
            }
            ```
            """";

    private const string ExpectedConstructionDifficulty = """"
            Is {x} {{$y}} <b>&amp; "quoted" 'single'</b> {{ $z }}?
            Second line }} {
            A. {a} & <b>
            B. "b" {{$c}}

            Answer the multiple-choice question above. Reply with JSON only: {"answer": "<letter of the correct option>"}
            """";

    private const string ExpectedJudge = """"
            <Model Response>
            [{"action": "Inner Thinking", "title": "<t>&", "content": "{{$question}} }"}]
            </Model Response>

            <Reference Answer>
            <b>"A & B"</b> {{x}}
            </Reference Answer>

            You are given a model-generated response (<Model Response>) and a reference answer (<Reference Answer>). Compare the model response with the reference answer and decide whether it is correct. Output only "True" if the response is correct and "False" otherwise.
            """";
}
