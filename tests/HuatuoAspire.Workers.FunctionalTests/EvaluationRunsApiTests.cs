using System.Net;
using System.Net.Http.Json;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.ScriptedLlm;
using HuatuoAspire.Workers.Apis;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace HuatuoAspire.Workers.FunctionalTests;

/// <summary>Evaluation runs through the workers' HTTP API, worked off by a real Hangfire server on PostgreSQL.</summary>
[Collection(PostgresCollection.Name)]
public sealed class EvaluationRunsApiTests(InfrastructureFixture fixture)
{
    private static readonly string[] Answers = ["A", "B", "C", "A", "B", "C"];

    private static async Task<long> SeedDatasetAsync(IDbContextFactory<HuatuoDbContext> dbs, string name, int count)
    {
        await using var db = await dbs.CreateDbContextAsync();
        var dataset = new Dataset { Name = name };
        db.ExamQuestions.AddRange(Enumerable.Range(0, count).Select(i => new ExamQuestion
        {
            Dataset = dataset, Question = $"Question {name} {i}?", Options = new() { ["A"] = "Aspirin", ["B"] = "Heparin", ["C"] = "Warfarin" },
            AnswerIdx = Answers[i % Answers.Length], Answer = "x", Source = "test", ContentSha256 = $"{name}-{i}",
        }));
        await db.SaveChangesAsync();
        return dataset.Id;
    }

    private static async Task<WebApplication> StartWorkersAsync(string connectionString, string llmUrl)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"ConnectionStrings:{HuatuoDataExtensions.DatabaseConnectionName}"] = connectionString,
            ["Llm:Endpoints:inference:BaseUrl"] = llmUrl,
            ["Llm:Endpoints:inference:Model"] = "scripted-model",
            ["Llm:Endpoints:inference:MaxRetries"] = "0",
            ["Workers:Parallelism"] = "2",
        });
        builder.AddWorkers();
        var app = builder.Build();
        app.MapWorkers();
        await app.StartAsync();
        return app;
    }

    private static Task<EvaluationRunsApi.EvaluationRunView> WaitAsync(HttpClient http, long id, Func<EvaluationRunsApi.EvaluationRunView, bool> done) =>
        Eventually.ReachesAsync(async () => (await http.GetFromJsonAsync<EvaluationRunsApi.EvaluationRunView>($"api/evaluation-runs/{id}"))!,
            done, TimeSpan.FromSeconds(60), $"evaluation run {id} to reach the awaited state");

    [Fact]
    public async Task AnEvaluationRunIsWorkedOffStoresEveryAnswerAndAReRunAsksOnlyTheFailedQuestion()
    {
        var (connectionString, dbs) = await fixture.CreateMigratedDatabaseAsync();
        var datasetId = await SeedDatasetAsync(dbs, "MedQA_mini", 6);
        var failOnce = true;
        await using var llm = await ScriptedChatServer.StartAsync(request =>
        {
            var text = request.LastUserMessage;
            if (text.Contains("MedQA_mini 0?", StringComparison.Ordinal)) return ScriptedReply.Text("## Thinking\n\nhm\n\n## Final Response\n\nThe answer is A.");
            if (text.Contains("MedQA_mini 1?", StringComparison.Ordinal)) return ScriptedReply.Text("The answer is C.");
            if (text.Contains("MedQA_mini 2?", StringComparison.Ordinal)) return ScriptedReply.Text("Warfarin, clearly.");
            if (text.Contains("MedQA_mini 3?", StringComparison.Ordinal)) return ScriptedReply.Text("");
            if (text.Contains("MedQA_mini 4?", StringComparison.Ordinal) && failOnce) { failOnce = false; return ScriptedReply.ServerError(); }
            return ScriptedReply.Text("The answer is B.");
        });
        await using var app = await StartWorkersAsync(connectionString, llm.BaseUrl);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        var missing = await http.PostAsJsonAsync("api/evaluation-runs", new { datasetId = 999999 });
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("dataset 999999 does not exist", await missing.Content.ReadAsStringAsync());
        var unnamed = await http.PostAsJsonAsync("api/evaluation-runs", new { datasetId, endpoint = "nowhere" });
        Assert.Equal(HttpStatusCode.BadRequest, unnamed.StatusCode);
        Assert.Contains("No LLM endpoint named 'nowhere'", await unnamed.Content.ReadAsStringAsync());
        var neither = await http.PostAsJsonAsync("api/evaluation-runs", new { concurrency = 0 });
        var neitherBody = await neither.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, neither.StatusCode);
        Assert.Contains("benchmarkBlob", neitherBody);
        Assert.Contains("concurrency must be 1..256", neitherBody);

        var started = await http.PostAsJsonAsync("api/evaluation-runs", new { datasetId, concurrency = 2, strictPrompt = true });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var id = (await started.Content.ReadFromJsonAsync<PipelineRunsApi.RunStarted>())!.Id;

        var run = await WaitAsync(http, id, r => r.Status is not ("Queued" or "Running"));
        Assert.Equal(("CompletedWithFailures", 6, 6, 5, 1), (run.Status, run.QuestionsTotal, run.QuestionsDone, run.Answered, run.Failed));
        var score = Assert.Single(run.Benchmarks);
        // 0 (A, after the final-response header) and 2 (C, by option text) are right; 1 and 5 are wrong; 3 (empty) is
        // unparsed and 4 failed: both counted wrong in the headline, dropped in the reference scorer's figure.
        Assert.Equal(("MedQA_mini", 6, 2, 1, 1), (score.Benchmark, score.Total, score.Correct, score.Unparsed, score.Failed));
        Assert.Equal(2 / 6.0, score.Accuracy, 6);
        Assert.Equal((4, 0.5), (score.Reference!.Counted, score.Reference.Accuracy));
        Assert.Equal((0.0968, 0.7000), (Math.Round(score.Ci95Low, 4), Math.Round(score.Ci95High, 4)));
        Assert.Equal(6, llm.Requests.Count);
        Assert.Contains("The answer is A.'", llm.Requests[0].LastUserMessage); // the strict prompt

        await using (var db = await dbs.CreateDbContextAsync())
        {
            var rows = await db.EvaluationResults.Where(r => r.EvaluationRun!.PipelineRunId == id).OrderBy(r => r.QuestionKey).ToListAsync();
            Assert.Equal(["AnswerIs", "AnswerIs", "OptionText", "None", "None", "AnswerIs"], rows.Select(r => r.ExtractionRule));
            Assert.Contains("500", rows[4].Error);
            Assert.Null(rows[0].Error);
            Assert.StartsWith("Please answer the following multiple-choice question, ensuring", rows[0].Prompt);
            Assert.Contains("## Final Response", rows[0].Output);
        }

        // The re-run asks only the failed question; counts move from failed to answered instead of doubling.
        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsync($"api/evaluation-runs/{id}/resume", null)).StatusCode);
        run = await WaitAsync(http, id, r => r.Status is not ("Queued" or "Running") && r.Failed == 0);
        Assert.Equal(("Succeeded", 6, 6, 0), (run.Status, run.QuestionsDone, run.Answered, run.Failed));
        Assert.Equal((3, 1, 0), (run.Benchmarks[0].Correct, run.Benchmarks[0].Unparsed, run.Benchmarks[0].Failed));
        Assert.Equal(7, llm.Requests.Count);

        var markdown = await http.GetStringAsync($"api/evaluation-runs/{id}/report?format=md");
        Assert.Contains("| MedQA_mini | 6 | 3 | 50.0% |", markdown);
        var report = System.Text.Json.Nodes.JsonNode.Parse(await http.GetStringAsync($"api/evaluation-runs/{id}/report"))!["MedQA_mini"]!;
        Assert.Equal((0.6, 5), (report["reference"]!["accuracy"]!.GetValue<double>(), report["reference"]!["counted"]!.GetValue<int>()));
        var list = await http.GetFromJsonAsync<List<EvaluationRunsApi.EvaluationRunView>>("api/evaluation-runs");
        Assert.Contains(list!, r => r.Id == id);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("api/evaluation-runs/999999")).StatusCode);
        await app.StopAsync();
    }

    [Fact]
    public async Task CancellingAnEvaluationRunStopsItsQuestionsInFlight()
    {
        var (connectionString, dbs) = await fixture.CreateMigratedDatabaseAsync();
        var datasetId = await SeedDatasetAsync(dbs, "slow", 40);
        await using var llm = await ScriptedChatServer.StartAsync(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(400), ct);
            return ScriptedReply.Text("The answer is A.");
        });
        await using var app = await StartWorkersAsync(connectionString, llm.BaseUrl);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        var started = await http.PostAsJsonAsync("api/evaluation-runs", new { datasetId, concurrency = 1 });
        var id = (await started.Content.ReadFromJsonAsync<PipelineRunsApi.RunStarted>())!.Id;
        await WaitAsync(http, id, r => r.QuestionsDone >= 2);
        Assert.Equal(HttpStatusCode.NoContent, (await http.PostAsync($"api/evaluation-runs/{id}/cancel", null)).StatusCode);

        // The job notices within its poll interval (2 s) and stops asking. Its end is the benchmark's run leaving
        // Running, which only the job does (Cancelled when it stopped, Succeeded had it asked all 40): waiting for that
        // instead of a fixed 3.5 s keeps a slow machine from passing for a job that does not stop.
        var benchmarkStatus = await Eventually.ReachesAsync(async () =>
        {
            await using var db = await dbs.CreateDbContextAsync();
            return (await db.EvaluationRuns.AsNoTracking().SingleAsync(r => r.PipelineRunId == id)).Status;
        }, status => status != RunStatus.Running, TimeSpan.FromSeconds(60), "the benchmark's run to leave Running");
        Assert.Equal(RunStatus.Cancelled, benchmarkStatus);
        var requests = llm.Requests.Count;
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Equal(requests, llm.Requests.Count);
        var run = (await http.GetFromJsonAsync<EvaluationRunsApi.EvaluationRunView>($"api/evaluation-runs/{id}"))!;
        Assert.Equal("Cancelled", run.Status);
        Assert.InRange(run.QuestionsDone, 2, 30);

        // Resumed, it finishes the rest without asking the answered questions again.
        var answered = run.QuestionsDone;
        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsync($"api/evaluation-runs/{id}/resume", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsync($"api/evaluation-runs/{id}/resume", null)).StatusCode);
        run = await WaitAsync(http, id, r => r.Status == "Succeeded");
        Assert.Equal(("Succeeded", 40), (run.Status, run.QuestionsDone));
        Assert.True(llm.Requests.Count <= 40 + 1, $"{llm.Requests.Count} requests for 40 questions ({answered} answered before the cancel)");
        await app.StopAsync();
    }
}
