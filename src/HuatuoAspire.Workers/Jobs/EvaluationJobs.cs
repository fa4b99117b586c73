using System.Text.Json;
using Hangfire;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Evaluation;
using HuatuoAspire.Reasoning.Llm;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Workers.Jobs;

/// <summary>What an evaluation run does; stored as the run's Parameters (jsonb).</summary>
public sealed record EvaluationRunParameters
{
    /// <summary>The benchmark file in blob storage (container "huatuo"): reference JSON keyed by benchmark name, or JSONL (name ending .jsonl).</summary>
    public string? BenchmarkBlob { get; init; }
    /// <summary>Or the exam questions of this imported dataset, as one benchmark named after the dataset.</summary>
    public long? DatasetId { get; init; }
    /// <summary>The named LLM endpoint (Llm:Endpoints:&lt;name&gt;) to ask; ignored when <see cref="Url"/> is given.</summary>
    public string Endpoint { get; init; } = LlmConfiguration.DefaultEndpointName;
    /// <summary>Any OpenAI-compatible base URL (…/v1) instead of a named endpoint.</summary>
    public string? Url { get; init; }
    /// <summary>The model id sent with each request; the endpoint's model when null.</summary>
    public string? Model { get; init; }
    public bool StrictPrompt { get; init; }
    public int Concurrency { get; init; } = 4;
    public int? MaxTokens { get; init; }
    public float Temperature { get; init; }
    /// <summary>Only the first N questions of each benchmark.</summary>
    public int? Limit { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, SearchRunParameters.Json);

    public static EvaluationRunParameters FromJson(string json) =>
        JsonSerializer.Deserialize<EvaluationRunParameters>(json, SearchRunParameters.Json) ?? throw new InvalidOperationException("evaluation run parameters are empty");

    /// <summary>Problems with these parameters, one message each; empty when they can be run.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(BenchmarkBlob) == DatasetId is null) problems.Add("give exactly one of benchmarkBlob (a benchmark file in blob storage) or datasetId.");
        if (BenchmarkBlob is { } blob && (blob.StartsWith('/') || blob.Split('/').Any(part => part is "" or "." or "..")))
            problems.Add($"benchmarkBlob '{blob}' is not a blob name (no leading '/', empty, '.' or '..' segments).");
        if (Url is not null && (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
            problems.Add($"url '{Url}' is not an absolute http(s) URL.");
        if (Concurrency is < 1 or > 256) problems.Add($"concurrency must be 1..256, got {Concurrency}.");
        if (MaxTokens is < 1) problems.Add($"maxTokens must be >= 1, got {MaxTokens}.");
        if (Limit is < 1) problems.Add($"limit must be >= 1, got {Limit}.");
        if (Temperature is < 0 or > 2) problems.Add($"temperature must be 0..2, got {Temperature}.");
        return problems;
    }
}

/// <summary>
/// Benchmark evaluation as one Hangfire job per run on the "evaluation" queue: a parent PipelineRun (kind Evaluation)
/// holds the parameters and the progress counters, one EvaluationRun per benchmark holds every prompt, output,
/// extracted letter, rule and correctness. The job asks only questions without a stored answer (or whose request
/// failed), so a retried, resumed or re-delivered job never asks a finished question twice; the endpoint's transient
/// errors (429, 5xx, network) are retried by the client, and a question still failing is stored with its error. The
/// run's cancellation flag is polled while questions are in flight.
/// </summary>
public sealed class EvaluationJobs(IDbContextFactory<HuatuoDbContext> dbs, Lazy<ArtifactStore> artifacts, LlmEndpointRegistry llms,
    IBackgroundJobClient jobs, ILogger<EvaluationJobs> logger)
{
    public const int JobRetries = 3;
    public const string UploadPrefix = "evaluation/benchmarks/";

    public TimeSpan CancellationPollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Reads the run's questions (checking the file), creates the run and enqueues its job; returns the run id.</summary>
    public async Task<long> StartRunAsync(EvaluationRunParameters parameters, CancellationToken ct = default)
    {
        var problems = parameters.Problems();
        if (problems.Count > 0) throw new ArgumentException(string.Join(" ", problems));
        if (parameters.Url is null) llms.Get(parameters.Endpoint); // a name that is not configured is refused now, not at run time
        var questions = await LoadQuestionsAsync(parameters, ct);
        await using var db = await dbs.CreateDbContextAsync(ct);
        var run = new PipelineRun
        {
            Kind = PipelineRunKind.Evaluation,
            Parameters = parameters.ToJson(),
            Status = RunStatus.Queued,
            ItemsTotal = questions.Count,
        };
        db.PipelineRuns.Add(run);
        await db.SaveChangesAsync(ct);
        Enqueue(run.Id);
        logger.LogInformation("Evaluation run {RunId}: {Count} questions of {Benchmarks} enqueued", run.Id, questions.Count,
            string.Join(", ", questions.Select(q => q.Benchmark).Distinct()));
        return run.Id;
    }

    /// <summary>Runs a finished, failed or cancelled run again: only its unanswered and failed questions are asked.</summary>
    public async Task<bool> ResumeRunAsync(long runId, CancellationToken ct = default)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        var updated = await db.PipelineRuns
            .Where(r => r.Id == runId && r.Kind == PipelineRunKind.Evaluation && r.Status != RunStatus.Running && r.Status != RunStatus.Queued)
            .ExecuteUpdateAsync(set => set.SetProperty(r => r.Status, RunStatus.Queued).SetProperty(r => r.CancellationRequested, false)
                .SetProperty(r => r.FinishedAt, (DateTime?)null).SetProperty(r => r.Error, (string?)null), ct);
        if (updated == 0) return false;
        Enqueue(runId);
        return true;
    }

    public async Task CancelRunAsync(long runId, CancellationToken ct = default)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        await PipelineRunProgress.CancelAsync(db, runId, ct);
    }

    private void Enqueue(long runId) =>
        jobs.Enqueue<EvaluationJobs>(Data.Jobs.HuatuoJobStorage.Queues.Evaluation, j => j.EvaluateAsync(runId, CancellationToken.None));

    [AutomaticRetry(Attempts = JobRetries, DelaysInSeconds = [15, 60, 300], OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    public async Task EvaluateAsync(long runId, CancellationToken ct)
    {
        PipelineRun? run;
        await using (var db = await dbs.CreateDbContextAsync(ct))
        {
            run = await db.PipelineRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId && r.Kind == PipelineRunKind.Evaluation, ct);
            if (run is null || run.CancellationRequested || run.Status is RunStatus.Cancelled or RunStatus.Succeeded or RunStatus.CompletedWithFailures) return;
            // Conditional: a cancel that lands between the read and this update wins.
            var claimed = await db.PipelineRuns.Where(r => r.Id == runId && !r.CancellationRequested).ExecuteUpdateAsync(set => set
                .SetProperty(r => r.Status, RunStatus.Running).SetProperty(r => r.StartedAt, r => r.StartedAt ?? DateTime.UtcNow), ct);
            if (claimed == 0) return;
        }

        var parameters = EvaluationRunParameters.FromJson(run.Parameters);
        IReadOnlyList<BenchmarkQuestion> questions;
        var options = new EvaluationOptions
        {
            Concurrency = parameters.Concurrency, MaxTokens = parameters.MaxTokens, Temperature = parameters.Temperature,
            StrictPrompt = parameters.StrictPrompt,
        };
        (LlmEndpoint Endpoint, bool Owned) endpoint;
        try
        {
            questions = await LoadQuestionsAsync(parameters, ct);
            endpoint = ResolveEndpoint(parameters, options);
        }
        catch (Exception exception) when (exception is BenchmarkFormatException or LlmConfigurationException or ArgumentException)
        {
            // The input changed or vanished since the run was started: no retry helps.
            await FailAsync(runId, exception.Message);
            return;
        }

        using var owned = endpoint.Owned ? endpoint.Endpoint : null;
        var sink = await DatabaseResultSink.OpenForRunAsync(dbs, runId, endpoint.Endpoint.Options.Model, questions.Select(q => q.Benchmark), ct);
        await using (var db = await dbs.CreateDbContextAsync(ct))
            await db.PipelineRuns.Where(r => r.Id == runId).ExecuteUpdateAsync(set => set.SetProperty(r => r.ItemsTotal, questions.Count), ct);

        using var cancellation = PipelineRunProgress.WatchCancellation(dbs, runId, CancellationPollInterval, ct);
        try
        {
            await new EvaluationRunner(endpoint.Endpoint, options).RunAsync(questions, sink, cancellationToken: cancellation.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && cancellation.IsCancellationRequested)
        {
            await sink.FinishAsync(RunStatus.Cancelled, CancellationToken.None);
            logger.LogInformation("Evaluation run {RunId} cancelled", runId);
            return;
        }

        await sink.CompleteAsync(CancellationToken.None);
        await using (var db = await dbs.CreateDbContextAsync(CancellationToken.None))
        {
            await DatabaseResultSink.UpdateParentCountsAsync(db, runId, CancellationToken.None);
            await PipelineRunProgress.CloseAsync(db, runId, CancellationToken.None);
        }
        logger.LogInformation("Evaluation run {RunId} finished: {Count} questions", runId, questions.Count);
    }

    private async Task FailAsync(long runId, string error)
    {
        await using var db = await dbs.CreateDbContextAsync(CancellationToken.None);
        await db.PipelineRuns.Where(r => r.Id == runId).ExecuteUpdateAsync(set => set.SetProperty(r => r.Status, RunStatus.Failed)
            .SetProperty(r => r.Error, error).SetProperty(r => r.FinishedAt, DateTime.UtcNow));
        logger.LogWarning("Evaluation run {RunId} failed: {Error}", runId, error);
    }

    /// <summary>
    /// The endpoint to ask: the registry's named endpoint, shared with every other job of the process (its concurrency
    /// limit, retries, usage ledger); with another model, a copy of its settings for that model; or one of its own for
    /// an explicit URL. <c>Owned</c>: made for this run, disposed after it.
    /// </summary>
    public (LlmEndpoint Endpoint, bool Owned) ResolveEndpoint(EvaluationRunParameters parameters, EvaluationOptions options)
    {
        if (parameters.Url is { } url) return (EvaluationRunner.CreateEndpoint(url, parameters.Model ?? "default", null, options, ledger: llms.Ledger), true);
        var named = llms.Get(parameters.Endpoint);
        if (parameters.Model is null || parameters.Model == named.Options.Model) return (named, false);
        return (new LlmEndpoint(named.Options with { Model = parameters.Model }, llms.Ledger), true);
    }

    /// <summary>The run's questions, in file (or id) order, the first <c>Limit</c> of each benchmark.</summary>
    public async Task<IReadOnlyList<BenchmarkQuestion>> LoadQuestionsAsync(EvaluationRunParameters parameters, CancellationToken ct)
    {
        IReadOnlyList<BenchmarkQuestion> questions;
        if (parameters.DatasetId is { } datasetId)
        {
            await using var db = await dbs.CreateDbContextAsync(ct);
            var dataset = await db.Datasets.AsNoTracking().SingleOrDefaultAsync(d => d.Id == datasetId, ct)
                ?? throw new BenchmarkFormatException($"dataset {datasetId} does not exist.");
            var rows = await db.ExamQuestions.AsNoTracking().Where(q => q.DatasetId == datasetId).OrderBy(q => q.Id)
                .Take(parameters.Limit ?? int.MaxValue).ToListAsync(ct);
            questions = rows.Select((q, i) => new BenchmarkQuestion(dataset.Name, i, q.Question,
                q.Options.OrderBy(o => o.Key, StringComparer.Ordinal).ToList(), q.AnswerIdx, q.Answer)).ToList();
        }
        else
        {
            var blobName = parameters.BenchmarkBlob!;
            var store = artifacts.Value;
            var extension = blobName.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) ? ".jsonl" : ".json";
            var path = Path.Combine(Path.GetTempPath(), $"huatuo-benchmark-{Guid.NewGuid():N}{extension}");
            try
            {
                try
                {
                    await store.DownloadFileAsync(blobName, path, ct);
                }
                catch (FileNotFoundException e)
                {
                    throw new BenchmarkFormatException(e.Message);
                }
                catch (InvalidDataException)
                {
                    // Put there by another tool (no recorded SHA-256 to verify against): a benchmark file is read as it is.
                    await store.Container.GetBlobClient(blobName).DownloadToAsync(path, ct);
                }
                // Messages name the blob, not the temporary copy.
                try
                {
                    questions = BenchmarkLoader.Load(path);
                }
                catch (BenchmarkFormatException e)
                {
                    throw new BenchmarkFormatException(e.Message.Replace(path, blobName, StringComparison.Ordinal));
                }
            }
            finally
            {
                File.Delete(path);
            }
            if (parameters.Limit is { } n) questions = questions.Where(q => q.Index < n).ToList();
        }
        if (questions.Count == 0) throw new BenchmarkFormatException("the benchmark has no questions.");
        return questions;
    }
}
