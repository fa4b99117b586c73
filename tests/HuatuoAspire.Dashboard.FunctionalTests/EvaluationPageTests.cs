using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bunit;
using HuatuoAspire.Dashboard.Components.Runs;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Model;
using HuatuoAspire.ScriptedLlm;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static HuatuoAspire.Dashboard.FunctionalTests.DashboardHtml;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// Evaluations from the dashboard, in the all-in-one host on the real PostgreSQL and Azurite: an admin uploads a
/// benchmark through the form, the workers' Hangfire server works it off against an OpenAI-compatible endpoint, and
/// the pages show the figures, one run or several side by side.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class EvaluationPageTests(DashboardFixture fixture)
{
    [Fact]
    public async Task AnAdminUploadsABenchmarkThroughTheDashboardAndThePagesShowItsScores()
    {
        await using var llm = await ScriptedChatServer.StartAsync(ScriptedBenchmark.Answer);
        var host = await fixture.HostAsync();

        var page = await host.Browser.GetStringAsync("/evaluations");
        Assert.Contains("id=\"form-start-evaluation\"", page);
        using var form = new MultipartFormDataContent
        {
            { new StringContent("start-evaluation"), "_handler" },
            { new StringContent(AntiforgeryToken(page)), "__RequestVerificationToken" },
            { new StringContent(llm.BaseUrl), "url" },
            { new StringContent("scripted-model"), "model" },
            { new StringContent("2"), "concurrency" },
            { new StringContent("on"), "strictPrompt" },
        };
        var file = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(ScriptedBenchmark.Json));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        form.Add(file, "file", "benchmarks.json");
        var posted = await host.Browser.PostAsync("/evaluations", form);
        var answer = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, answer);
        var id = StartedId(answer, "evaluations");

        var run = await RunsToEnd.EvaluationAsync(host.Browser, id, TimeSpan.FromSeconds(60));
        Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        Assert.Equal(5, llm.Requests.Count);
        Assert.All(llm.Requests, r => Assert.Contains("The answer is A.'", r.LastUserMessage));

        // q0 right (after the final-response header), q1 right (option text), q2 empty: 2 of 3, 1 unparsed.
        var detail = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/evaluations/{id}"));
        var medqa = Row(detail, "score-MedQA_USLME_test");
        // The reference scorer's figure drops the empty answer: 2 of 2.
        Assert.Equal(["MedQA_USLME_test", "3", "2", "66.7%", "20.8%–93.9%", "1", "0", "100.0% (of 2)"], Cells(medqa));
        Assert.Equal(["PubMedQA_test", "2", "1", "50.0%", "9.5%–90.5%", "0", "0", "50.0% (of 2)"], Cells(Row(detail, "score-PubMedQA_test")));
        // Under them the papers' average: 66.7% and 50.0% weighted alike; 3 of 5 questions pooled.
        Assert.Equal(["average of 2 benchmarks", "5", "3", "58.3%", "each benchmark weighted alike, as the papers' \"Avg.\"; over all questions 60.0%"],
            Cells(Row(detail, "score-average")));
        // The figures are live over the circuit: no reloading page.
        Assert.Contains("_framework/blazor.web.js", detail);
        Assert.DoesNotContain("http-equiv=\"refresh\"", detail);
        Assert.Contains("The reference figure is the HuatuoGPT-o1 repository's own scorer", detail);
        // The first benchmark's questions, each with its prompt and output.
        var q0 = Row(detail, "result-0");
        Assert.Contains("Which drug is an anticoagulant (q0)?", q0);
        Assert.Contains("Heparin inhibits thrombin.", q0);
        Assert.Contains("AnswerIs", q0);
        Assert.Contains("✗", Row(detail, "result-2"));
        var pubmed = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/evaluations/{id}?benchmark=PubMedQA_test"));
        Assert.Contains("Does vitamin C cure the common cold (q4)?", Row(pubmed, "result-1"));

        var list = WebUtility.HtmlDecode(await host.Browser.GetStringAsync("/evaluations"));
        Assert.Contains("MedQA_USLME_test 66.7% (2/3)", Row(list, $"evaluation-{id}"));
        Assert.Contains("| MedQA_USLME_test | 3 | 2 | 66.7% | 20.8–93.9% | 1 | 0 | 100.0% (of 2) |",
            await host.Browser.GetStringAsync($"/api/evaluation-runs/{id}/report?format=md"));

        // The pipeline-run page shows the same run's progress and points to its scores.
        var runPage = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/runs/{id}"));
        Assert.Contains("5 / 5", runPage);
        Assert.Contains($"href=\"/evaluations/{id}\"", runPage);
        Assert.Contains("No such evaluation run.", await host.Browser.GetStringAsync("/evaluations/999999999"));

        // A form whose API refuses says why on the page: no LLM endpoint is configured for a search run here.
        var runs = await host.Browser.GetStringAsync("/runs");
        var refused = await host.Browser.PostAsync("/runs", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-search", ["__RequestVerificationToken"] = AntiforgeryToken(runs),
            ["endpoint"] = "nowhere", ["verifier"] = "rule",
        }));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("No LLM endpoint named &#x27;nowhere&#x27;", await refused.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AJsonlBenchmarkAlreadyInBlobStorageIsEvaluatedAndAMissingOneIsRefused()
    {
        await using var llm = await ScriptedChatServer.StartAsync(ScriptedBenchmark.Answer);
        var host = await fixture.HostAsync();
        // Uploaded by another tool (no SHA-256 metadata), one record per line with its benchmark as "source".
        var blobName = $"benchmarks/{Guid.NewGuid():N}/mini.jsonl";
        var container = host.App.Services.GetRequiredService<ArtifactStore>().Container;
        await container.CreateIfNotExistsAsync();
        // 2 + 25 questions: two pages of questions on the evaluation page.
        var lines = new List<string>
        {
            JsonSerializer.Serialize(new { source = "GPQA_Medical_test", question = "Which drug is an anticoagulant (q0)?", options = new { A = "Aspirin", B = "Heparin" }, answer_idx = "B" }),
            JsonSerializer.Serialize(new { source = "GPQA_Medical_test", question = "Does smoking raise lung cancer risk (q3)?", options = new { A = "yes", B = "no" }, answer_idx = "A" }),
        };
        lines.AddRange(Enumerable.Range(2, 25).Select(i =>
            JsonSerializer.Serialize(new { source = "GPQA_Medical_test", question = $"Filler question number {i}?", options = new { A = "first", B = "second" }, answer_idx = "A" })));
        await container.GetBlobClient(blobName).UploadAsync(BinaryData.FromString(string.Join("\n", lines)));

        var missing = await host.Browser.PostAsJsonAsync("/api/evaluation-runs", new { benchmarkBlob = "benchmarks/none.jsonl", url = llm.BaseUrl });
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("Blob 'benchmarks/none.jsonl' does not exist", await missing.Content.ReadAsStringAsync());

        var started = await host.Browser.PostAsJsonAsync("/api/evaluation-runs", new { benchmarkBlob = blobName, url = llm.BaseUrl, model = "scripted-model" });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();
        var run = await RunsToEnd.EvaluationAsync(host.Browser, id, TimeSpan.FromSeconds(60));
        var score = run["benchmarks"]![0]!;
        Assert.Equal(("Succeeded", "GPQA_Medical_test", 27, 27), (run["status"]!.GetValue<string>(), score["benchmark"]!.GetValue<string>(),
            score["total"]!.GetValue<int>(), score["correct"]!.GetValue<int>()));

        var first = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/evaluations/{id}"));
        Assert.Contains("questions 1–25 of 27", first);
        Assert.Contains("id=\"result-24\"", first);
        Assert.DoesNotContain("id=\"result-25\"", first);
        Assert.Contains($"/evaluations/{id}?benchmark=GPQA_Medical_test&page=2", first);
        var second = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/evaluations/{id}?benchmark=GPQA_Medical_test&page=2"));
        Assert.Contains("questions 26–27 of 27", second);
        Assert.Contains("Filler question number 26?", Row(second, "result-26"));
        Assert.DoesNotContain("id=\"result-0\"", second);
    }

    [Fact]
    public async Task AnEvaluationRunsAgainstTheOwnInferenceServiceAndAnAdminSwitchesTheServedModelFromTheDashboard()
    {
        // It switches the model the host serves: a host of its own.
        var host = await fixture.FreshHostAsync();
        var (status, body) = await HostHealth.WaitForHealthyAsync(host.Browser, "/health/inference", TimeSpan.FromMinutes(2));
        Assert.True(status == HttpStatusCode.OK, $"/health/inference: {status} {body}");

        // The default endpoint of `huatuo up` is its own inference service, serving its tiny (random) model.
        long datasetId;
        await using (var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync())
        {
            var dataset = new Dataset { Name = $"eval-{Guid.NewGuid():N}" };
            db.ExamQuestions.AddRange(Enumerable.Range(0, 2).Select(i => new ExamQuestion
            {
                Dataset = dataset, Question = $"Which drug is an anticoagulant ({i})?", Options = new() { ["A"] = "Aspirin", ["B"] = "Heparin" },
                AnswerIdx = "B", Answer = "Heparin", Source = "test", ContentSha256 = $"{dataset.Name}-{i}",
            }));
            await db.SaveChangesAsync();
            datasetId = dataset.Id;
        }
        var started = await host.Browser.PostAsJsonAsync("/api/evaluation-runs", new { datasetId, maxTokens = 8, concurrency = 2 });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();
        var run = await RunsToEnd.EvaluationAsync(host.Browser, id, TimeSpan.FromMinutes(2));
        Assert.True(run["status"]!.GetValue<string>() == "Succeeded" && run["failed"]!.GetValue<int>() == 0, run.ToJsonString());
        Assert.Equal(2, run["benchmarks"]![0]!["total"]!.GetValue<int>());
        await using (var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync())
        {
            var rows = await db.EvaluationResults.Where(r => r.EvaluationRun!.PipelineRunId == id).ToListAsync();
            Assert.Equal(2, rows.Count);
            Assert.All(rows, r => Assert.Equal("default", db.EvaluationRuns.Single(e => e.Id == r.EvaluationRunId).Model));
            Assert.All(rows, r => Assert.Null(r.Error));
            Assert.All(rows, r => Assert.NotNull(r.ExtractionRule));
        }

        // Switch the served model to another folder through the training page's admin form.
        var folder = Path.Combine(fixture.NewFolder("switch"), "model");
        using (ModelPresets.Create(folder, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed: 5)) { }
        var training = await host.Browser.GetStringAsync("/training");
        var switched = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "switch-model", ["__RequestVerificationToken"] = AntiforgeryToken(training),
            ["path"] = folder, ["model_id"] = "switched-tiny",
        }));
        var page = await switched.Content.ReadAsStringAsync();
        Assert.True(switched.StatusCode == HttpStatusCode.OK, page);
        Assert.Contains("Done.", Row(page, "answer-switch-model", "</p>"));
        Assert.Contains("\"switched-tiny\"", await host.Browser.GetStringAsync("/v1/models"));
    }

    [Fact]
    public async Task TheComparisonPageShowsTwoRunsSideBySideAndTheQuestionsTheyAnsweredDifferently()
    {
        // Model "careful" answers as the evaluation tests script it; model "always-a" says A to everything.
        await using var llm = await ScriptedChatServer.StartAsync(r => r.Model == "always-a" ? ScriptedReply.Text("The answer is A.") : ScriptedBenchmark.Answer(r));
        var host = await fixture.HostAsync();
        var blob = $"benchmarks/{Guid.NewGuid():N}/compare.json";
        var container = host.App.Services.GetRequiredService<HuatuoAspire.Storage.ArtifactStore>().Container;
        await container.CreateIfNotExistsAsync();
        await container.GetBlobClient(blob).UploadAsync(BinaryData.FromString(ScriptedBenchmark.Json));
        var ids = new List<long>();
        foreach (var model in new[] { "careful", "always-a" })
        {
            var started = await host.Browser.PostAsJsonAsync("/api/evaluation-runs", new { benchmarkBlob = blob, url = llm.BaseUrl, model });
            Assert.True(started.IsSuccessStatusCode, await started.Content.ReadAsStringAsync());
            ids.Add((await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>());
        }
        foreach (var id in ids)
        {
            var run = await RunsToEnd.EvaluationAsync(host.Browser, id, TimeSpan.FromSeconds(90));
            Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        }

        Assert.Contains("name=\"runs\" value=\"" + ids[0].ToString(System.Globalization.CultureInfo.InvariantCulture) + "\"", await host.Browser.GetStringAsync("/evaluations"));
        var page = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/evaluations/compare?runs={ids[0]}&runs={ids[1]}&runs=999999999"));
        // careful: q0 B ✓, q1 A ✓ (option text), q2 none ✗; always-a: A ✗, A ✓, A ✗. PubMedQA: careful A ✓, A ✗; always-a the same.
        Assert.Equal(["MedQA_USLME_test", "66.7% (2/3; 20.8%–93.9%)", "33.3% (1/3; 6.1%–79.2%)"], Cells(Row(page, "compare-MedQA_USLME_test")));
        Assert.Equal(["PubMedQA_test", "50.0% (1/2; 9.5%–90.5%)", "50.0% (1/2; 9.5%–90.5%)"], Cells(Row(page, "compare-PubMedQA_test")));
        Assert.Equal(["average (each benchmark weighted alike, as the papers' \"Avg.\")", "58.3% (2 benchmarks, 3/5 questions)", "41.7% (2 benchmarks, 2/5 questions)"],
            Cells(Row(page, "compare-average")));
        Assert.Contains("No such evaluation run: #999999999.", page);
        Assert.Contains("2 questions, 1 of them right in one run and wrong in another", page);
        Assert.Equal(["MedQA_USLME_test", "0", "Which drug is an anticoagulant (q0)?", "B", "B ✓", "A ✗"], Cells(Row(page, "disagree-MedQA_USLME_test-0")));
        Assert.Equal(["MedQA_USLME_test", "2", "Which organ makes insulin (q2)?", "B", "none ✗", "A ✗"], Cells(Row(page, "disagree-MedQA_USLME_test-2")));
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(page, "class=\"disagreement\""));
    }

    [Fact]
    public async Task AnEvaluationRunsProgressAndScoresUpdateWithoutAReloadUntilItEnds()
    {
        var host = await fixture.HostAsync();
        var dbs = host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>();
        long id;
        EvaluationRun benchmark;
        await using (var db = await dbs.CreateDbContextAsync())
        {
            var run = new PipelineRun { Kind = PipelineRunKind.Evaluation, Parameters = "{}", Status = RunStatus.Running, ItemsTotal = 2, StartedAt = DateTime.UtcNow };
            benchmark = new EvaluationRun { PipelineRun = run, Benchmark = "MedQA_USLME_test", Model = "scripted-model", Status = RunStatus.Running, Total = 2 };
            db.EvaluationRuns.Add(benchmark);
            await db.SaveChangesAsync();
            id = run.Id;
        }

        using var browser = new BunitContext();
        browser.Services.AddSingleton(dbs);
        var live = browser.Render<LiveEvaluationRun>(p => p.Add(c => c.RunId, id).Add(c => c.PollInterval, TimeSpan.FromMilliseconds(200)));
        live.WaitForAssertion(() => Assert.Equal("0 / 2", live.Find("#questions-done").TextContent), TimeSpan.FromSeconds(30));
        live.WaitForAssertion(() => Assert.Equal("yes", live.Find("#live-evaluation").GetAttribute("data-live")));
        Assert.Empty(live.FindAll("#score-MedQA_USLME_test"));

        // The workers answer the first question: the same component instance shows it and its score.
        await using (var db = await dbs.CreateDbContextAsync())
        {
            db.EvaluationResults.Add(Answered(benchmark.Id, "0", "B", correct: true));
            await db.SaveChangesAsync();
            await db.PipelineRuns.Where(r => r.Id == id).ExecuteUpdateAsync(u => u.SetProperty(r => r.ItemsDone, 1));
        }
        live.WaitForAssertion(() => Assert.Equal("1 / 2", live.Find("#questions-done").TextContent), TimeSpan.FromSeconds(30));
        Assert.Equal(["MedQA_USLME_test", "1", "1", "100.0%"], Cells(live.Find("#score-MedQA_USLME_test").OuterHtml)[..4]);

        await using (var db = await dbs.CreateDbContextAsync())
        {
            db.EvaluationResults.Add(Answered(benchmark.Id, "1", "C", correct: false));
            await db.SaveChangesAsync();
            await db.PipelineRuns.Where(r => r.Id == id).ExecuteUpdateAsync(u => u
                .SetProperty(r => r.ItemsDone, 2).SetProperty(r => r.Status, RunStatus.Succeeded).SetProperty(r => r.FinishedAt, DateTime.UtcNow));
        }
        live.WaitForAssertion(() => Assert.Equal("Succeeded", live.Find("#live-evaluation").GetAttribute("data-status")), TimeSpan.FromSeconds(30));
        Assert.Equal(["MedQA_USLME_test", "2", "1", "50.0%"], Cells(live.Find("#score-MedQA_USLME_test").OuterHtml)[..4]);
        Assert.Contains("(Succeeded)", live.Find("#evaluation-status").TextContent);
        Assert.Contains("not working", live.Find("#live-evaluation-state").TextContent);
        Assert.Equal($"/evaluations/{id}", live.Find("#reload-run").GetAttribute("href"));
    }

    [Fact]
    public async Task WhereTheAppHostNamesItsAspireDashboardEachRunPageLinksToThatRunsTracesWhichCarryTheRunsId()
    {
        // The job spans of this process, as the Aspire dashboard would receive them.
        var tagged = new System.Collections.Concurrent.ConcurrentBag<(string Name, object? RunId)>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == HuatuoAspire.Data.Jobs.JobActivityFilter.ActivitySourceName,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => tagged.Add((activity.DisplayName, activity.GetTagItem(HuatuoAspire.Data.Jobs.JobActivityFilter.RunIdTag))),
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        await using var llm = await ScriptedChatServer.StartAsync(ScriptedBenchmark.Answer);
        var host = await fixture.HostAsync("--Dashboard:AspireDashboardUrl=http://localhost:18888/");
        var id = await ScriptedBenchmark.EvaluateAsync(host.Browser, llm.BaseUrl);
        await Eventually.TrueAsync(() => tagged.Any(t => t.RunId is long runId && runId == id), TimeSpan.FromSeconds(30),
            $"a job span tagged with run {id}");
        Assert.Contains(tagged, t => t.Name == "job EvaluationJobs.EvaluateAsync" && Equals(t.RunId, id));

        // The evaluation and pipeline-run pages link to the workers' traces of this run, the training page to the trainer's.
        var traces = $"http://localhost:18888/traces/resource/workers?filters=huatuo.run.id%3Aequals%3A{id}";
        Assert.Equal(traces, RunTracesLink(await host.Browser.GetStringAsync($"/evaluations/{id}")));
        Assert.Equal(traces, RunTracesLink(await host.Browser.GetStringAsync($"/runs/{id}")));
        long trainingId;
        await using (var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync())
        {
            var training = new TrainingRun { Kind = TrainingRunKind.Sft, Name = "traced", Status = RunStatus.Queued, Config = """{"kind":"sft","name":"traced"}""" };
            db.TrainingRuns.Add(training);
            await db.SaveChangesAsync();
            trainingId = training.Id;
            // Queued by hand, with no job: let no trainer wait on it.
            await db.TrainingRuns.Where(r => r.Id == trainingId).ExecuteUpdateAsync(u => u.SetProperty(r => r.Status, RunStatus.Cancelled));
        }
        Assert.Equal($"http://localhost:18888/traces/resource/trainer?filters=huatuo.run.id%3Aequals%3A{trainingId}",
            RunTracesLink(await host.Browser.GetStringAsync($"/training/{trainingId}")));
    }

    /// <summary>The href of the page's link to its run's traces.</summary>
    private static string RunTracesLink(string page) =>
        WebUtility.HtmlDecode(System.Text.RegularExpressions.Regex.Match(page, "id=\"run-traces\" href=\"([^\"]+)\"").Groups[1].Value);

    private static EvaluationResult Answered(long evaluationRunId, string key, string letter, bool correct) => new()
    {
        EvaluationRunId = evaluationRunId, QuestionKey = key, Question = $"Question {key}?", Options = new() { ["A"] = "one", ["B"] = "two", ["C"] = "three" },
        AnswerIdx = "B", Prompt = "prompt", Output = $"The answer is {letter}.", ExtractedLetter = letter, Correct = correct, ExtractionRule = "AnswerIs",
    };
}
