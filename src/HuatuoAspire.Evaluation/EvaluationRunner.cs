using HuatuoAspire.Reasoning.Llm;

namespace HuatuoAspire.Evaluation;

public sealed record EvaluationOptions
{
    public string Model { get; init; } = "default";
    public int Concurrency { get; init; } = 4;
    public int? MaxTokens { get; init; }
    /// <summary>0 (greedy) unless asked: the reference's eval.py samples at 0.5 with top_p 0.9, which makes a score vary between runs.</summary>
    public float Temperature { get; init; }
    public float? TopP { get; init; }
    public bool StrictPrompt { get; init; }

    /// <summary>Retries of 408/429/5xx and network failures, with back-off honouring Retry-After (the endpoint's policy).</summary>
    public int MaxRetries { get; init; } = 3;
    /// <summary>First back-off delay of those retries; doubles per retry, with jitter.</summary>
    public double RetryBaseDelaySeconds { get; init; } = 1;

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>One answered (or failed) question: everything needed to audit the score.</summary>
public sealed record QuestionResult(string Benchmark, int Index, string Question, IReadOnlyDictionary<string, string> Options,
    string AnswerIdx, string Prompt, string? Output, string? Extracted, ExtractionRule Rule, bool Correct, string? Error);

/// <summary>Where results go as they arrive (a JSONL file now, the database later); also says what is already done.</summary>
public interface IEvaluationResultSink
{
    /// <summary>Results stored by earlier runs (the latest per question).</summary>
    IReadOnlyList<QuestionResult> Existing { get; }

    Task WriteAsync(QuestionResult result, CancellationToken cancellationToken);
}

/// <summary>
/// Runs multiple-choice benchmarks through an <see cref="LlmEndpoint"/> (the same path as construction and search:
/// its concurrency limit, retries, usage ledger and GenAI telemetry, Azure OpenAI included) with bounded concurrency. A question the
/// sink already holds an answer to (the same prompt, matched by <see cref="QuestionHash"/>, not by position) is not
/// asked again but scored again, so a resumed run reads old answers with the current extractor. A question the
/// endpoint never answers, after the client's retries, is recorded with its error and the run goes on.
/// </summary>
public sealed class EvaluationRunner(LlmEndpoint endpoint, EvaluationOptions options)
{
    public const string Prompt = "Please answer the following multiple-choice question:\n{0}\n{1}";

    // The reference's strict prompt says its first sentence twice ("Please answer the following multiple-choice
    // questions. Please answer the following multiple-choice questions, ensuring ..."); this is it said once.
    public const string StrictPrompt = "Please answer the following multiple-choice question, ensuring your response concludes with the correct option in the format: 'The answer is A.'.\n{0}\n{1}";

    /// <summary>An endpoint of its own for a base URL given on the spot (a named endpoint comes from the registry instead).</summary>
    public static LlmEndpoint CreateEndpoint(string baseUrl, string model, string? apiKey, EvaluationOptions options,
        LlmEndpointKind kind = LlmEndpointKind.OpenAiCompatible, LlmUsageLedger? ledger = null) =>
        new(new LlmEndpointOptions
        {
            Name = "evaluation",
            BaseUrl = new Uri(baseUrl),
            Model = model,
            ApiKey = string.IsNullOrEmpty(apiKey) ? null : apiKey,
            Kind = kind,
            MaxConcurrency = options.Concurrency,
            MaxRetries = options.MaxRetries,
            RetryBaseDelaySeconds = options.RetryBaseDelaySeconds,
            TimeoutSeconds = options.RequestTimeout.TotalSeconds,
            StructuredOutput = false,
        }, ledger);

    public static string BuildPrompt(BenchmarkQuestion question, bool strict)
    {
        var optionLines = string.Join("\n", question.Options.Select(o => $"{o.Key}. {o.Value}"));
        return string.Format(System.Globalization.CultureInfo.InvariantCulture, strict ? StrictPrompt : Prompt, question.Question, optionLines);
    }

    /// <summary>The latest answered (not failed) record of each asked prompt, per benchmark.</summary>
    public static IReadOnlyDictionary<(string Benchmark, string Hash), QuestionResult> Answered(IEnumerable<QuestionResult> existing)
    {
        var answered = new Dictionary<(string, string), QuestionResult>();
        foreach (var record in existing.Where(r => r.Error is null)) answered[(record.Benchmark, QuestionHash.Of(record.Prompt))] = record;
        return answered;
    }

    /// <summary>How many of <paramref name="questions"/> the records already answer, and how many answered records match none of them.</summary>
    public (int Answered, int Unmatched) CountStored(IReadOnlyList<BenchmarkQuestion> questions, IEnumerable<QuestionResult> existing)
    {
        var answered = Answered(existing);
        var keys = questions.Select(Key).ToHashSet();
        return (keys.Count(answered.ContainsKey), answered.Keys.Count(k => !keys.Contains(k)));
    }

    private (string, string) Key(BenchmarkQuestion q) => (q.Benchmark, QuestionHash.Of(BuildPrompt(q, options.StrictPrompt)));

    public async Task<IReadOnlyList<QuestionResult>> RunAsync(IReadOnlyList<BenchmarkQuestion> questions, IEvaluationResultSink sink,
        IProgress<QuestionResult>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Concurrency, 1);
        var done = Answered(sink.Existing);
        var todo = questions.Where(q => !done.ContainsKey(Key(q))).ToList();
        var fresh = new System.Collections.Concurrent.ConcurrentDictionary<(string, int), QuestionResult>();
        await Parallel.ForEachAsync(todo, new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = cancellationToken },
            async (question, ct) =>
            {
                var result = await AnswerAsync(question, ct).ConfigureAwait(false);
                await sink.WriteAsync(result, ct).ConfigureAwait(false);
                fresh[(question.Benchmark, question.Index)] = result;
                progress?.Report(result);
            }).ConfigureAwait(false);

        return questions.Select(q => fresh.TryGetValue((q.Benchmark, q.Index), out var r) ? r : Score(q, done[Key(q)].Prompt, done[Key(q)].Output, null)).ToList();
    }

    private async Task<QuestionResult> AnswerAsync(BenchmarkQuestion question, CancellationToken cancellationToken)
    {
        var prompt = BuildPrompt(question, options.StrictPrompt);
        var request = LlmRequest.FromPrompt(prompt, "evaluate") with
        {
            MaxTokens = options.MaxTokens,
            Temperature = options.Temperature,
            TopP = options.TopP,
            // An unreadable reply is the endpoint's failure, recorded as such and asked again on a resume.
            RetryUnreadableReply = false,
        };
        try
        {
            var completion = await endpoint.CompleteAsync(request, cancellationToken).ConfigureAwait(false);
            return Score(question, prompt, completion.Text, null);
        }
        catch (LlmCallException e) when (!cancellationToken.IsCancellationRequested)
        {
            // The endpoint gave no answer after its retries: recorded as failed, not as unparsed, and asked again on a resume.
            return Score(question, prompt, null, Describe(e));
        }
    }

    private static string Describe(LlmCallException e) =>
        e.InnerException is { } inner ? $"{e.Message} ({inner.GetType().Name})" : e.Message;

    private static QuestionResult Score(BenchmarkQuestion question, string prompt, string? output, string? error)
    {
        var extracted = error is null ? AnswerExtractor.Extract(output, question.Options) : ExtractedAnswer.Unparsed;
        return new QuestionResult(question.Benchmark, question.Index, question.Question,
            question.Options.ToDictionary(o => o.Key, o => o.Value), question.AnswerIdx, prompt, output,
            extracted.Letter, extracted.Rule, extracted.Letter == question.AnswerIdx.ToUpperInvariant(), error);
    }
}
