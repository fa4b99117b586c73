using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Prompts;
using HuatuoAspire.Domain;

namespace HuatuoAspire.Reasoning.Verification;

/// <summary>
/// An LLM compares a response with the reference answer (the paper used GPT-4o) and says True or False. A JSON schema
/// response format is sent where the endpoint takes it; otherwise the reply is parsed (JSON, or a lone True/False word)
/// and an unclear reply gets one repair turn. A reply that stays unclear counts as not verified, with the reason.
/// </summary>
public sealed partial class LlmJudgeVerifier(LlmEndpoint judge) : IAnswerVerifier
{
    public static readonly JsonSchemaFormat Schema = new("verdict",
        """{"type":"object","properties":{"verdict":{"type":"string","enum":["True","False"]}},"required":["verdict"],"additionalProperties":false}""");

    public string Name => "llm-judge";

    /// <summary>The judge's prompt, the Semantic Kernel template Prompts/en/judge.txt.</summary>
    public static Task<string> PromptAsync(string response, string reference, CancellationToken cancellationToken = default) =>
        PromptLibrary.RenderAsync("judge", PromptLanguage.En,
            new Dictionary<string, string> { ["response"] = response, ["reference"] = reference }, cancellationToken);

    public async Task<VerificationResult> VerifyAsync(string response, string reference, CancellationToken cancellationToken = default)
    {
        var prompt = await PromptAsync(response, reference, cancellationToken).ConfigureAwait(false);
        var messages = new List<ChatTurn> { new(ChatRole.User, prompt) };
        var raws = new List<string>();
        var usage = LlmUsage.None;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var completion = await judge.CompleteAsync(new LlmRequest(messages) { Purpose = "verify", ResponseSchema = Schema }, cancellationToken).ConfigureAwait(false);
            raws.Add(completion.Text);
            usage += completion.Usage;
            var verdict = ParseVerdict(completion.Text);
            if (verdict is { } correct)
            {
                return new VerificationResult(correct, $"judge '{judge.Options.Model}' said {(correct ? "True" : "False")}", Name)
                {
                    Prompt = prompt, RawOutput = string.Join("\n---\n", raws), Usage = usage,
                };
            }
            messages = [new(ChatRole.User, prompt), new(ChatRole.Assistant, completion.Text),
                new(ChatRole.User, "Your reply must be exactly one word: True or False.")];
        }
        return new VerificationResult(false, $"judge reply is neither True nor False after a repair turn: '{Shorten(raws[^1])}'", Name)
        {
            Prompt = prompt, RawOutput = string.Join("\n---\n", raws), Usage = usage,
        };
    }

    /// <summary>{"verdict": "True"} / {"correct": true}, or exactly one of the words true/false in the text.</summary>
    public static bool? ParseVerdict(string reply)
    {
        if (JsonReply.TryParseObject(reply, out var json, out _))
        {
            foreach (var key in new[] { "verdict", "correct", "answer", "result" })
            {
                switch (json[key])
                {
                    case JsonValue value when value.GetValueKind() is JsonValueKind.True or JsonValueKind.False:
                        return value.GetValue<bool>();
                    case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                        return ParseWords((string)value!);
                }
            }
        }
        return ParseWords(reply);
    }

    private static bool? ParseWords(string text)
    {
        var words = VerdictWordRegex().Matches(text).Select(m => m.Value.ToLowerInvariant()).Distinct().ToList();
        return words.Count == 1 ? words[0] == "true" : null;
    }

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "…";

    [GeneratedRegex(@"\b(true|false)\b", RegexOptions.IgnoreCase)]
    private static partial Regex VerdictWordRegex();
}
