using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text;
using OpenAI;
using OpenAI.Chat;

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

    /// <summary>Retries of 408/429/5xx and network failures, with back-off honouring Retry-After (System.ClientModel's policy).</summary>
    public int MaxRetries { get; init; } = 3;

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
/// Runs multiple-choice benchmarks against any OpenAI-compatible endpoint with bounded concurrency. A question the
/// sink already holds an answer to (the same prompt, matched by <see cref="QuestionHash"/>, not by position) is not
/// asked again but scored again, so a resumed run reads old answers with the current extractor. A question the
/// endpoint never answers, after the client's retries, is recorded with its error and the run goes on.
/// </summary>
public sealed class EvaluationRunner(ChatClient client, EvaluationOptions options)
{
    public const string Prompt = "Please answer the following multiple-choice question:\n{0}\n{1}";

    // The reference's strict prompt says its first sentence twice ("Please answer the following multiple-choice
    // questions. Please answer the following multiple-choice questions, ensuring ..."); this is it said once.
    public const string StrictPrompt = "Please answer the following multiple-choice question, ensuring your response concludes with the correct option in the format: 'The answer is A.'.\n{0}\n{1}";

    public static ChatClient CreateClient(string baseUrl, string model, string? apiKey, EvaluationOptions options) =>
        new(model, new ApiKeyCredential(string.IsNullOrEmpty(apiKey) ? "none" : apiKey), new OpenAIClientOptions
        {
            Endpoint = new Uri(baseUrl),
            RetryPolicy = new ClientRetryPolicy(options.MaxRetries),
            NetworkTimeout = options.RequestTimeout,
        });

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
        var chatOptions = new ChatCompletionOptions { Temperature = options.Temperature, TopP = options.TopP };
        if (options.MaxTokens is { } max) chatOptions.MaxOutputTokenCount = max;
        try
        {
            ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage(prompt)], chatOptions, cancellationToken).ConfigureAwait(false);
            var text = new StringBuilder();
            foreach (var part in completion.Content) text.Append(part.Text);
            return Score(question, prompt, text.ToString(), null);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested
                                   && e is ClientResultException or HttpRequestException or IOException or System.Text.Json.JsonException or FormatException
                                       or InvalidOperationException or AggregateException or OperationCanceledException)
        {
            // The endpoint gave no answer (the client's retry policy gives an AggregateException once its retries of
            // network failures are spent): recorded as failed, not as unparsed, and asked again on a resume.
            return Score(question, prompt, null, Describe(e));
        }
    }

    private static string Describe(Exception e) => e is AggregateException { InnerExceptions.Count: > 0 } aggregate
        ? $"no answer after {aggregate.InnerExceptions.Count} tries; the last: {aggregate.InnerExceptions[^1].GetType().Name}: {aggregate.InnerExceptions[^1].Message}"
        : $"{e.GetType().Name}: {e.Message}";

    private static QuestionResult Score(BenchmarkQuestion question, string prompt, string? output, string? error)
    {
        var extracted = error is null ? AnswerExtractor.Extract(output, question.Options) : ExtractedAnswer.Unparsed;
        return new QuestionResult(question.Benchmark, question.Index, question.Question,
            question.Options.ToDictionary(o => o.Key, o => o.Value), question.AnswerIdx, prompt, output,
            extracted.Letter, extracted.Rule, extracted.Letter == question.AnswerIdx.ToUpperInvariant(), error);
    }
}
