using System.Globalization;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Evaluation;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Workers.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Workers.Apis;

/// <summary>
/// Start, watch, cancel and resume benchmark evaluations (the dashboard and scripts call these). A run is started
/// with a benchmark file uploaded as multipart/form-data (field "file", the other parameters as form fields) or with
/// JSON naming a file already in blob storage (benchmarkBlob) or an imported dataset (datasetId).
/// </summary>
public static class EvaluationRunsApi
{
    public sealed record EvaluationRunView(long Id, string Status, int QuestionsTotal, int QuestionsDone, int Answered, int Failed,
        bool CancellationRequested, string? Error, DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt,
        EvaluationRunParameters Parameters, IReadOnlyList<BenchmarkScore> Benchmarks);

    public static IEndpointRouteBuilder MapEvaluationRunsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("api/evaluation-runs");
        api.MapGet("", ListAsync).WithName("ListEvaluationRuns").WithSummary("The newest evaluation runs with their per-benchmark scores.");
        api.MapGet("{id:long}", GetAsync).WithName("GetEvaluationRun")
            .WithSummary("An evaluation run: progress, and per benchmark total, correct, accuracy, 95% CI (Wilson) and unparsed outputs.");
        api.MapGet("{id:long}/report", ReportAsync).WithName("GetEvaluationReport")
            .WithSummary("The report `huatuo eval` writes: report.json (default) or report.md (?format=md).");
        api.MapPost("", StartAsync).WithName("StartEvaluationRun")
            .WithSummary("Evaluate a model on a benchmark file (multipart upload or JSON naming a blob or dataset) as a job on the evaluation queue.")
            .RequireAuthorization(AdminAccess.PolicyName);
        api.MapPost("{id:long}/cancel", CancelAsync).WithName("CancelEvaluationRun").WithSummary("Cancel a run; questions in flight stop within seconds.")
            .RequireAuthorization(AdminAccess.PolicyName);
        api.MapPost("{id:long}/resume", ResumeAsync).WithName("ResumeEvaluationRun")
            .WithSummary("Run a finished, failed or cancelled run again: only unanswered and failed questions are asked.")
            .RequireAuthorization(AdminAccess.PolicyName);
        return app;
    }

    private static async Task<Results<Accepted<PipelineRunsApi.RunStarted>, ProblemHttpResult>> StartAsync(HttpContext http, EvaluationJobs jobs,
        Lazy<ArtifactStore> artifacts, CancellationToken ct)
    {
        EvaluationRunParameters parameters;
        string? uploaded = null;
        try
        {
            if (http.Request.HasFormContentType)
            {
                var form = await http.Request.ReadFormAsync(ct);
                parameters = FromForm(form);
                var file = form.Files.GetFile("file");
                if (file is not null && file.Length > 0)
                {
                    if (parameters.BenchmarkBlob is not null || parameters.DatasetId is not null)
                        throw new ArgumentException("give either an uploaded file or benchmarkBlob/datasetId, not both.");
                    uploaded = UploadName(file.FileName);
                    await using (var stream = file.OpenReadStream())
                        await artifacts.Value.UploadAsync(uploaded, stream, ct);
                    parameters = parameters with { BenchmarkBlob = uploaded };
                }
            }
            else
            {
                parameters = await http.Request.ReadFromJsonAsync<EvaluationRunParameters>(SearchRunParameters.Json, ct)
                    ?? throw new ArgumentException("the request body is empty.");
            }

            var id = await jobs.StartRunAsync(parameters, ct);
            return TypedResults.Accepted($"/api/evaluation-runs/{id}", new PipelineRunsApi.RunStarted(id));
        }
        catch (Exception exception) when (exception is ArgumentException or BenchmarkFormatException or LlmConfigurationException
                                              or System.Text.Json.JsonException or FormatException or InvalidDataException)
        {
            // Bad input loses nothing and keeps nothing: an upload that cannot be run is removed again.
            if (uploaded is not null) await artifacts.Value.DeleteAsync(uploaded, CancellationToken.None);
            return TypedResults.Problem(exception.Message, statusCode: StatusCodes.Status400BadRequest, title: "Invalid evaluation run");
        }
    }

    /// <summary>Form fields named like the JSON properties; absent fields keep their defaults.</summary>
    public static EvaluationRunParameters FromForm(IFormCollection form)
    {
        string? Text(string name) => form.TryGetValue(name, out var v) && !string.IsNullOrWhiteSpace(v.ToString()) ? v.ToString().Trim() : null;
        T? Number<T>(string name) where T : struct, IParsable<T> => Text(name) is { } text
            ? T.TryParse(text, CultureInfo.InvariantCulture, out var value) ? value : throw new ArgumentException($"{name} must be a number, got '{text}'.")
            : null;
        var defaults = new EvaluationRunParameters();
        return new EvaluationRunParameters
        {
            BenchmarkBlob = Text("benchmarkBlob"),
            DatasetId = Number<long>("datasetId"),
            Endpoint = Text("endpoint") ?? defaults.Endpoint,
            Url = Text("url"),
            Model = Text("model"),
            // An HTML checkbox sends "on" (or "true,false" from Blazor's InputCheckbox) when ticked and nothing otherwise.
            StrictPrompt = Text("strictPrompt") is { } strict && (strict == "on" || strict.StartsWith("true", StringComparison.OrdinalIgnoreCase)),
            Concurrency = Number<int>("concurrency") ?? defaults.Concurrency,
            MaxTokens = Number<int>("maxTokens"),
            Temperature = Number<float>("temperature") ?? defaults.Temperature,
            Limit = Number<int>("limit"),
        };
    }

    private static string UploadName(string fileName)
    {
        var name = Path.GetFileName(fileName);
        var safe = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_').ToArray());
        if (safe.Length == 0) safe = "benchmark.json";
        return $"{EvaluationJobs.UploadPrefix}{DateTime.UtcNow:yyyyMMddHHmmss}-{Guid.NewGuid():N}/{safe}";
    }

    private static async Task<Ok<IReadOnlyList<EvaluationRunView>>> ListAsync(IDbContextFactory<HuatuoDbContext> dbs, CancellationToken ct)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        var runs = await db.PipelineRuns.AsNoTracking().Where(r => r.Kind == PipelineRunKind.Evaluation).OrderByDescending(r => r.Id).Take(100).ToListAsync(ct);
        var views = new List<EvaluationRunView>();
        foreach (var run in runs) views.Add(View(run, await ScoresAsync(db, run.Id, ct)));
        return TypedResults.Ok<IReadOnlyList<EvaluationRunView>>(views);
    }

    private static async Task<Results<Ok<EvaluationRunView>, NotFound>> GetAsync(long id, IDbContextFactory<HuatuoDbContext> dbs, CancellationToken ct)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        var run = await db.PipelineRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id && r.Kind == PipelineRunKind.Evaluation, ct);
        return run is null ? TypedResults.NotFound() : TypedResults.Ok(View(run, await ScoresAsync(db, id, ct)));
    }

    private static async Task<Results<ContentHttpResult, NotFound>> ReportAsync(long id, string? format, IDbContextFactory<HuatuoDbContext> dbs, CancellationToken ct)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        if (!await db.PipelineRuns.AnyAsync(r => r.Id == id && r.Kind == PipelineRunKind.Evaluation, ct)) return TypedResults.NotFound();
        var scores = await ScoresAsync(db, id, ct);
        return format is "md" or "markdown"
            ? TypedResults.Text(EvaluationReport.ToMarkdown(scores), "text/markdown; charset=utf-8")
            : TypedResults.Text(EvaluationReport.ToJson(scores), "application/json; charset=utf-8");
    }

    private static async Task<Results<NoContent, NotFound>> CancelAsync(long id, IDbContextFactory<HuatuoDbContext> dbs, EvaluationJobs jobs, CancellationToken ct)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        if (!await db.PipelineRuns.AnyAsync(r => r.Id == id && r.Kind == PipelineRunKind.Evaluation, ct)) return TypedResults.NotFound();
        await jobs.CancelRunAsync(id, ct);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Accepted, NotFound, ProblemHttpResult>> ResumeAsync(long id, IDbContextFactory<HuatuoDbContext> dbs, EvaluationJobs jobs, CancellationToken ct)
    {
        await using var db = await dbs.CreateDbContextAsync(ct);
        if (!await db.PipelineRuns.AnyAsync(r => r.Id == id && r.Kind == PipelineRunKind.Evaluation, ct)) return TypedResults.NotFound();
        return await jobs.ResumeRunAsync(id, ct)
            ? TypedResults.Accepted($"/api/evaluation-runs/{id}")
            : TypedResults.Problem($"evaluation run {id} is still queued or running.", statusCode: StatusCodes.Status409Conflict, title: "The run is active");
    }

    private static Task<IReadOnlyList<BenchmarkScore>> ScoresAsync(HuatuoDbContext db, long pipelineRunId, CancellationToken ct) =>
        StoredEvaluation.ScoresAsync(db, pipelineRunId, ct);

    private static EvaluationRunView View(PipelineRun run, IReadOnlyList<BenchmarkScore> scores) =>
        new(run.Id, run.Status.ToString(), run.ItemsTotal, run.ItemsDone, run.ItemsSucceeded, run.ItemsFailed, run.CancellationRequested, run.Error,
            run.CreatedAt, run.StartedAt, run.FinishedAt, EvaluationRunParameters.FromJson(run.Parameters), scores);
}
