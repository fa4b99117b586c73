using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Domain;

namespace HuatuoAspire.Reasoning.Construction;

/// <summary>
/// Turns a multiple-choice question into a verifiable problem (HuatuoGPT-o1 §3.1): drop very short questions, drop
/// questions every small model answers correctly, ask the LLM filter for one verdict, then rewrite into an open-ended
/// question with a concise ground-truth answer. Every prompt, raw answer and verdict is kept in the result.
/// </summary>
public sealed partial class ProblemConstruction(LlmEndpoint writer, IReadOnlyList<LlmEndpoint>? smallModels = null, ConstructionOptions? options = null)
{
    private readonly IReadOnlyList<LlmEndpoint> _smallModels = smallModels ?? [];
    private readonly ConstructionOptions _options = options ?? new ConstructionOptions();

    private const string QuestionField = "Open-ended Verifiable Question";
    private const string AnswerField = "Ground-True Answer";

    public async Task<ConstructionResult> ConstructAsync(MultipleChoiceQuestion question, CancellationToken cancellationToken = default)
    {
        if (question.Question.Length < _options.MinQuestionCharacters)
        {
            return new ConstructionResult
            {
                Status = ConstructionStatus.Rejected, Usage = LlmUsage.None,
                RejectReason = $"question has {question.Question.Length} characters, fewer than the minimum {_options.MinQuestionCharacters}",
            };
        }

        var checks = new List<DifficultyCheck>();
        foreach (var model in _smallModels)
            checks.Add(await AnswerWithSmallModelAsync(model, question, cancellationToken).ConfigureAwait(false));
        var usage = checks.Aggregate(LlmUsage.None, (sum, check) => sum + check.Usage);
        if (checks.Count > 0 && checks.All(check => check.Correct))
        {
            return new ConstructionResult
            {
                Status = ConstructionStatus.Rejected, DifficultyChecks = checks, Usage = usage,
                RejectReason = $"all {checks.Count} small model(s) answered correctly ({string.Join(", ", checks.Select(c => c.Model))})",
            };
        }

        string? filterPrompt = null;
        IReadOnlyList<string> filterRaws = [];
        FilterVerdict? verdict = null;
        if (_options.LlmFilter)
        {
            filterPrompt = await ConstructionPrompts.FilterAsync(question, cancellationToken).ConfigureAwait(false);
            var filter = await writer.CompleteJsonAsync(
                LlmRequest.FromPrompt(filterPrompt, "construct-filter", ConstructionPrompts.FilterSchema), ParseFilterVerdict, cancellationToken).ConfigureAwait(false);
            // A model that ignores the JSON instruction and answers with the bare label is still understood.
            var parsed = filter.Value?.Verdict ?? filter.RawOutputs.Select(VerdictFromText).LastOrDefault(v => v is not null);
            filterRaws = filter.RawOutputs;
            usage += filter.Usage;
            if (parsed is null)
            {
                return new ConstructionResult
                {
                    Status = ConstructionStatus.Failed, DifficultyChecks = checks, FilterPrompt = filterPrompt, FilterRawOutputs = filterRaws,
                    Usage = usage, RejectReason = $"the filter verdict could not be read ({filter.Error})",
                };
            }
            verdict = parsed;
            if (parsed != FilterVerdict.Pass)
            {
                return new ConstructionResult
                {
                    Status = ConstructionStatus.Rejected, Verdict = parsed, DifficultyChecks = checks, FilterPrompt = filterPrompt,
                    FilterRawOutputs = filterRaws, Usage = usage, RejectReason = $"LLM filter verdict: {Label(parsed.Value)}",
                };
            }
        }

        var rewritePrompt = await ConstructionPrompts.RewriteAsync(_options.Language, question, cancellationToken).ConfigureAwait(false);
        var rewrite = await writer.CompleteJsonAsync(
            LlmRequest.FromPrompt(rewritePrompt, "construct-rewrite", ConstructionPrompts.RewriteSchema), ParseRewrite, cancellationToken).ConfigureAwait(false);
        usage += rewrite.Usage;
        return new ConstructionResult
        {
            Status = rewrite.Value is null ? ConstructionStatus.Failed : ConstructionStatus.Accepted,
            Verdict = verdict,
            RejectReason = rewrite.Value is null ? $"the rewrite stayed invalid after 2 tries ({rewrite.Error})" : null,
            DifficultyChecks = checks,
            FilterPrompt = filterPrompt,
            FilterRawOutputs = filterRaws,
            RewritePrompt = rewritePrompt,
            RewriteRawOutputs = rewrite.RawOutputs,
            OpenEndedQuestion = rewrite.Value?.Question,
            GroundTruthAnswer = rewrite.Value?.Answer,
            Usage = usage,
        };
    }

    private static async Task<DifficultyCheck> AnswerWithSmallModelAsync(LlmEndpoint model, MultipleChoiceQuestion question, CancellationToken cancellationToken)
    {
        var prompt = await ConstructionPrompts.DifficultyAsync(question, cancellationToken).ConfigureAwait(false);
        var completion = await model.CompleteAsync(
            LlmRequest.FromPrompt(prompt, "construct-difficulty", ConstructionPrompts.DifficultySchema(question)) with { MaxTokens = 64 }, cancellationToken).ConfigureAwait(false);
        var chosen = ChosenOption(completion.Text, question);
        return new DifficultyCheck(model.Options.Model, prompt, completion.Text, chosen, chosen == question.AnswerIdx, completion.Usage);
    }

    /// <summary>The option letter a model chose: {"answer": "C"}, or the first standalone option letter in its text.</summary>
    internal static string? ChosenOption(string reply, MultipleChoiceQuestion question)
    {
        var keys = question.Options.Select(o => o.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (JsonReply.TryParseObject(reply, out var json, out _) && json["answer"] is JsonValue value && value.GetValueKind() == JsonValueKind.String)
        {
            var text = ((string)value!).Trim().TrimEnd('.', ')');
            if (keys.Contains(text)) return keys.First(k => k.Equals(text, StringComparison.OrdinalIgnoreCase));
        }
        foreach (Match match in OptionLetterRegex().Matches(reply))
        {
            var letter = match.Groups[1].Value;
            if (keys.Contains(letter)) return keys.First(k => k.Equals(letter, StringComparison.OrdinalIgnoreCase));
        }
        return null;
    }

    private sealed record ParsedVerdict(FilterVerdict Verdict);

    private static ParsedVerdict? ParseFilterVerdict(JsonObject json, out string error)
    {
        var text = json["verdict"] is JsonValue value && value.GetValueKind() == JsonValueKind.String ? (string?)value : null;
        var verdict = text is null ? null : VerdictFromText(text);
        error = verdict is null ? $"\"verdict\" must be one of Pass, Too Simple, Ambiguous Answer, Not Reformulatable (got {(text is null ? "nothing" : $"'{text}'")})" : "";
        return verdict is null ? null : new ParsedVerdict(verdict.Value);
    }

    /// <summary>The one verdict label in a text; null when there is none or more than one.</summary>
    internal static FilterVerdict? VerdictFromText(string text)
    {
        var found = new HashSet<FilterVerdict>();
        foreach (Match match in VerdictLabelRegex().Matches(text))
        {
            found.Add(match.Value.ToLowerInvariant().Replace(" ", "") switch
            {
                "toosimple" => FilterVerdict.TooSimple,
                "ambiguousanswer" => FilterVerdict.AmbiguousAnswer,
                "notreformulatable" => FilterVerdict.NotReformulatable,
                _ => FilterVerdict.Pass,
            });
        }
        return found.Count == 1 ? found.First() : null;
    }

    public static string Label(FilterVerdict verdict) => verdict switch
    {
        FilterVerdict.Pass => "Pass",
        FilterVerdict.TooSimple => "Too Simple",
        FilterVerdict.AmbiguousAnswer => "Ambiguous Answer",
        FilterVerdict.NotReformulatable => "Not Reformulatable",
        _ => throw new ArgumentOutOfRangeException(nameof(verdict), verdict, null),
    };

    private sealed record Rewritten(string Question, string Answer);

    private static Rewritten? ParseRewrite(JsonObject json, out string error)
    {
        var extra = json.Select(p => p.Key).Where(k => k != QuestionField && k != AnswerField).ToList();
        if (extra.Count > 0) { error = $"unexpected field(s) {string.Join(", ", extra.Select(k => $"\"{k}\""))}; only \"{QuestionField}\" and \"{AnswerField}\" are allowed"; return null; }
        var question = json[QuestionField] is JsonValue q && q.GetValueKind() == JsonValueKind.String ? ((string)q!).Trim() : "";
        var answer = json[AnswerField] is JsonValue a && a.GetValueKind() == JsonValueKind.String ? ((string)a!).Trim() : "";
        if (question.Length == 0) { error = $"\"{QuestionField}\" is missing or empty"; return null; }
        if (answer.Length == 0) { error = $"\"{AnswerField}\" is missing or empty"; return null; }
        error = "";
        return new Rewritten(question, answer);
    }

    [GeneratedRegex(@"(?<![A-Za-z])([A-J])(?![A-Za-z])")]
    private static partial Regex OptionLetterRegex();

    [GeneratedRegex(@"\b(too\s+simple|ambiguous\s+answer|not\s+reformulatable|pass)\b", RegexOptions.IgnoreCase)]
    private static partial Regex VerdictLabelRegex();
}
