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
    public float Temperature { get; init; }
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
/// Runs multiple-choice benchmarks against any OpenAI-compatible endpoint with bounded concurrency, skipping
/// questions the sink already holds without error, and returns every result (earlier ones included).
/// </summary>
public sealed class EvaluationRunner(ChatClient client, EvaluationOptions options)
{
    public const string Prompt = "Please answer the following multiple-choice question:\n{0}\n{1}";
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

    public async Task<IReadOnlyList<QuestionResult>> RunAsync(IReadOnlyList<BenchmarkQuestion> questions, IEvaluationResultSink sink,
        IProgress<QuestionResult>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Concurrency, 1);
        var done = sink.Existing.Where(r => r.Error is null).ToDictionary(r => (r.Benchmark, r.Index));
        var todo = questions.Where(q => !done.ContainsKey((q.Benchmark, q.Index))).ToList();
        var fresh = new System.Collections.Concurrent.ConcurrentDictionary<(string, int), QuestionResult>();
        await Parallel.ForEachAsync(todo, new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = cancellationToken },
            async (question, ct) =>
            {
                var result = await AnswerAsync(question, ct).ConfigureAwait(false);
                await sink.WriteAsync(result, ct).ConfigureAwait(false);
                fresh[(question.Benchmark, question.Index)] = result;
                progress?.Report(result);
            }).ConfigureAwait(false);

        return questions.Select(q => fresh.TryGetValue((q.Benchmark, q.Index), out var r) ? r : done[(q.Benchmark, q.Index)]).ToList();
    }

    private async Task<QuestionResult> AnswerAsync(BenchmarkQuestion question, CancellationToken cancellationToken)
    {
        var prompt = BuildPrompt(question, options.StrictPrompt);
        var chatOptions = new ChatCompletionOptions { Temperature = options.Temperature };
        if (options.MaxTokens is { } max) chatOptions.MaxOutputTokenCount = max;
        string? output = null;
        string? error = null;
        try
        {
            ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage(prompt)], chatOptions, cancellationToken).ConfigureAwait(false);
            var text = new StringBuilder();
            foreach (var part in completion.Content) text.Append(part.Text);
            output = text.ToString();
        }
        catch (Exception e) when (e is ClientResultException or HttpRequestException or IOException or System.Text.Json.JsonException or FormatException or InvalidOperationException
                                   || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // A question the endpoint could not answer counts as wrong and unparsed; the reason is kept.
            error = $"{e.GetType().Name}: {e.Message}";
        }

        var extracted = AnswerExtractor.Extract(output, question.Options);
        return new QuestionResult(question.Benchmark, question.Index, question.Question,
            question.Options.ToDictionary(o => o.Key, o => o.Value), question.AnswerIdx, prompt, output,
            extracted.Letter, extracted.Rule, extracted.Letter == question.AnswerIdx, error);
    }
}
