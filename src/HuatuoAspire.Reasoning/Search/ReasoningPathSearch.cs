using HuatuoAspire.Domain.Search;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Domain;
using System.Text.Encodings.Web;
using System.Text.Json;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Verification;

namespace HuatuoAspire.Reasoning.Search;

/// <summary>
/// Searches for a verified complex reasoning path for one verifiable problem (HuatuoGPT-o1 stage 1): an initial JSON
/// chain of thought, then up to MaxDepth refinements with random strategies while the verifier rejects the Final
/// Conclusion, up to MaxAttempts fresh attempts; a success is rewritten into Complex_CoT and Response.
/// </summary>
public sealed class ReasoningPathSearch(LlmEndpoint generator, IAnswerVerifier verifier, SearchOptions? options = null)
{
    private static readonly JsonSerializerOptions ReasoningJson = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly SearchOptions _options = Validated(options ?? new SearchOptions());

    private static SearchOptions Validated(SearchOptions options)
    {
        options.Validate();
        return options;
    }

    /// <summary>
    /// Runs the search. LLM errors that survive the endpoint's retries propagate (the item can be retried later);
    /// malformed output and exhausted attempts end in a <see cref="SearchStatus.Failed"/> result with the reason.
    /// </summary>
    public async Task<SearchResult> SearchAsync(string question, string groundTruth, int itemSeed, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(question);
        ArgumentException.ThrowIfNullOrWhiteSpace(groundTruth);
        var random = new Random(StableSeed.Combine(_options.Seed, itemSeed));
        var steps = new List<SearchExchange>();
        List<CotStep> chain = [];
        var verified = false;

        SearchResult Finish(SearchStatus status, string? reason, string? complexCot = null, string? response = null) => new()
        {
            Status = status,
            FailureReason = reason,
            Question = question,
            GroundTruth = groundTruth,
            LongCot = chain,
            ComplexCot = complexCot,
            Response = response,
            Steps = steps,
            Usage = steps.Aggregate(LlmUsage.None, (sum, step) => sum + step.Usage + (step.Verdict?.Usage ?? LlmUsage.None)),
            Verifier = verifier.Name,
        };

        var language = _options.Language;
        List<CotStep>? firstChain = null;
        for (var attempt = 1; attempt <= _options.MaxAttempts && !verified; attempt++)
        {
            if (firstChain is not null && _options.ReuseInitialReasoning)
            {
                // The reference restarts an attempt from the state saved after the first chain of thought (already
                // verified wrong) instead of asking for a new one.
                chain = [.. firstChain];
            }
            else if (await InitialAttemptAsync(attempt) is { } failure)
            {
                return failure;
            }

            for (var depth = 1; depth <= _options.MaxDepth && !verified; depth++)
            {
                var strategy = SearchStrategies.Choose(random, firstRefinement: depth == 1);
                var prompt = await SearchPrompts.RefinementAsync(language, strategy, question, ReasoningWithoutLastVerification(chain), cancellationToken).ConfigureAwait(false);
                var refinement = await GenerateAsync(prompt, isRefinement: true, cancellationToken).ConfigureAwait(false);
                if (refinement.Value is null)
                {
                    steps.Add(Step(attempt, depth, SearchStepKind.Refinement, strategy.DisplayName(), prompt, refinement, null));
                    return Finish(SearchStatus.Failed, $"attempt {attempt}, refinement {depth} ({strategy.DisplayName()}): malformed output after a repair retry ({refinement.Error})");
                }
                chain = [.. chain.Take(chain.Count - 1), .. refinement.Value];
                var refined = await VerifyAsync(chain, groundTruth, cancellationToken).ConfigureAwait(false);
                steps.Add(Step(attempt, depth, SearchStepKind.Refinement, strategy.DisplayName(), prompt, refinement, refined));
                verified = refined.IsCorrect;
            }
        }

        // The attempt's first chain of thought and its verdict; a result only when the attempt ends the search (malformed output).
        async Task<SearchResult?> InitialAttemptAsync(int attempt)
        {
            var initialPrompt = await SearchPrompts.InitialAsync(language, question, cancellationToken).ConfigureAwait(false);
            var initial = await GenerateAsync(initialPrompt, isRefinement: false, cancellationToken).ConfigureAwait(false);
            if (initial.Value is null)
            {
                steps.Add(Step(attempt, 0, SearchStepKind.InitialReasoning, null, initialPrompt, initial, null));
                return Finish(SearchStatus.Failed, $"attempt {attempt}: malformed initial reasoning after a repair retry ({initial.Error})");
            }
            chain = [.. initial.Value];
            firstChain ??= chain;
            var verdict = await VerifyAsync(chain, groundTruth, cancellationToken).ConfigureAwait(false);
            steps.Add(Step(attempt, 0, SearchStepKind.InitialReasoning, null, initialPrompt, initial, verdict));
            verified = verdict.IsCorrect;
            return null;
        }

        var status = SearchStatus.Verified;
        if (!verified)
        {
            var exhausted = $"no verified conclusion after {_options.MaxAttempts} attempt(s) of up to {_options.MaxDepth} refinement(s)";
            if (!_options.EfficientSearch) return Finish(SearchStatus.Failed, exhausted);

            var prompt = await SearchPrompts.LabelGuidedAsync(language, question, ReasoningWithoutLastVerification(chain), groundTruth, cancellationToken).ConfigureAwait(false);
            var guided = await GenerateAsync(prompt, isRefinement: true, cancellationToken).ConfigureAwait(false);
            steps.Add(Step(_options.MaxAttempts, _options.MaxDepth + 1, SearchStepKind.LabelGuided, null, prompt, guided, null));
            if (guided.Value is null) return Finish(SearchStatus.Failed, $"{exhausted}; label-guided continuation malformed ({guided.Error})");
            chain = [.. chain.Take(chain.Count - 1), .. guided.Value];
            status = SearchStatus.LabelGuided;
        }

        var lastAttempt = steps[^1].Attempt;
        var reformatPrompt = await SearchPrompts.ReformatAsync(language, SearchPrompts.StreamOfSearch(chain), question, cancellationToken).ConfigureAwait(false);
        var reformat = await generator.CompleteJsonAsync(
            LlmRequest.FromPrompt(reformatPrompt, "reformat", SearchPrompts.ReformatSchema), ParseNaturalReasoning, cancellationToken).ConfigureAwait(false);
        steps.Add(new SearchExchange
        {
            Attempt = lastAttempt, Depth = steps[^1].Depth, Kind = SearchStepKind.Reformat, Prompt = reformatPrompt,
            RawOutputs = reformat.RawOutputs, Error = reformat.Error, Usage = reformat.Usage,
        });
        if (reformat.Value is null) return Finish(SearchStatus.Failed, $"rewriting the verified reasoning failed ({reformat.Error})");
        var complexCot = reformat.Value.Text;

        var responsePrompt = await SearchPrompts.FinalResponseAsync(language, complexCot, question, cancellationToken).ConfigureAwait(false);
        var final = await generator.CompleteAsync(LlmRequest.FromPrompt(responsePrompt, "final-response"), cancellationToken).ConfigureAwait(false);
        var finalText = final.Text.Trim();
        steps.Add(new SearchExchange
        {
            Attempt = lastAttempt, Depth = steps[^1].Depth, Kind = SearchStepKind.FinalResponse, Prompt = responsePrompt,
            RawOutputs = [final.Text], Usage = final.Usage, Error = finalText.Length == 0 ? "empty final response" : null,
        });
        if (finalText.Length == 0) return Finish(SearchStatus.Failed, "the final response is empty");
        return Finish(status, null, complexCot, finalText);
    }

    private Task<StructuredCompletion<List<CotStep>>> GenerateAsync(string prompt, bool isRefinement, CancellationToken cancellationToken) =>
        generator.CompleteJsonAsync(
            LlmRequest.FromPrompt(prompt, isRefinement ? "refine-cot" : "initial-cot", CotStepSchema.Format),
            (JsonValidator<List<CotStep>>)((System.Text.Json.Nodes.JsonObject json, out string error) => CotStep.Parse(json, isRefinement, out error)),
            cancellationToken);

    private Task<VerificationResult> VerifyAsync(List<CotStep> chain, string groundTruth, CancellationToken cancellationToken) =>
        verifier.VerifyAsync(chain[^2].Content, groundTruth, cancellationToken);

    /// <summary>The chain as the prompt shows it: everything but the last Verification step.</summary>
    internal static string ReasoningWithoutLastVerification(IReadOnlyList<CotStep> chain) =>
        JsonSerializer.Serialize(chain.Take(chain.Count - 1), ReasoningJson);

    private static SearchExchange Step(int attempt, int depth, SearchStepKind kind, string? strategy, string prompt,
        StructuredCompletion<List<CotStep>> completion, VerificationResult? verdict) => new()
    {
        Attempt = attempt, Depth = depth, Kind = kind, Strategy = strategy, Prompt = prompt, RawOutputs = completion.RawOutputs,
        ParsedSteps = completion.Value, Verdict = verdict, Error = completion.Error, Usage = completion.Usage,
    };

    private sealed record NaturalReasoning(string Text);

    private static NaturalReasoning? ParseNaturalReasoning(System.Text.Json.Nodes.JsonObject json, out string error)
    {
        var text = json["NaturalReasoning"]?.GetValueKind() == JsonValueKind.String ? (string?)json["NaturalReasoning"] : null;
        if (string.IsNullOrWhiteSpace(text)) { error = "\"NaturalReasoning\" is missing or empty"; return null; }
        if (!text.Trim().Contains('\n')) { error = "\"NaturalReasoning\" must put each thought on its own line"; return null; }
        error = "";
        return new NaturalReasoning(text.Trim());
    }
}
