using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.LocalServers;
using HuatuoAspire.Model;
using HuatuoAspire.ScriptedLlm;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>
/// Evaluations from the dashboard, in the all-in-one host on the real PostgreSQL and Azurite: an admin uploads a
/// benchmark through the form, the workers' Hangfire server works it off against an OpenAI-compatible endpoint, and
/// the pages show the figures; without the admin rights the forms and the API refuse.
/// </summary>
[Collection(InfrastructureCollection.Name)]
public sealed partial class EvaluationDashboardTests(InfrastructureFixture fixture)
{
    private static readonly string Benchmarks = JsonSerializer.Serialize(new Dictionary<string, object[]>
    {
        ["MedQA_USLME_test"] =
        [
            new { question = "Which drug is an anticoagulant (q0)?", options = new { A = "Aspirin", B = "Heparin", C = "Paracetamol" }, answer_idx = "B", answer = "Heparin" },
            new { question = "Which vitamin deficiency causes scurvy (q1)?", options = new { A = "Vitamin C", B = "Vitamin D" }, answer_idx = "A", answer = "Vitamin C" },
            new { question = "Which organ makes insulin (q2)?", options = new { A = "Liver", B = "Pancreas" }, answer_idx = "B", answer = "Pancreas" },
        ],
        ["PubMedQA_test"] =
        [
            new { question = "Does smoking raise lung cancer risk (q3)?", options = new { A = "yes", B = "no", C = "maybe" }, answer_idx = "A", answer = "yes" },
            new { question = "Does vitamin C cure the common cold (q4)?", options = new { A = "yes", B = "no", C = "maybe" }, answer_idx = "B", answer = "no" },
        ],
    });

    private static ScriptedReply Answer(RecordedRequest request)
    {
        var text = request.LastUserMessage;
        if (text.Contains("(q0)", StringComparison.Ordinal)) return ScriptedReply.Text("## Thinking\n\nHeparin inhibits thrombin.\n\n## Final Response\n\nThe answer is B.");
        if (text.Contains("(q1)", StringComparison.Ordinal)) return ScriptedReply.Text("Vitamin C, of course.");
        if (text.Contains("(q2)", StringComparison.Ordinal)) return ScriptedReply.Text("");
        if (text.Contains("(q3)", StringComparison.Ordinal)) return ScriptedReply.Text("The answer is A.");
        return ScriptedReply.Text("The answer is A.");
    }

    [Fact]
    public async Task AnAdminUploadsABenchmarkThroughTheDashboardAndThePagesShowItsScores()
    {
        await using var llm = await ScriptedChatServer.StartAsync(Answer);
        await using var host = await StartAsync();

        var page = await host.Browser.GetStringAsync("/evaluations");
        Assert.Contains("id=\"form-start-evaluation\"", page);
        using var form = new MultipartFormDataContent
        {
            { new StringContent("start-evaluation"), "_handler" },
            { new StringContent(AntiforgeryField().Match(page).Groups[1].Value), "__RequestVerificationToken" },
            { new StringContent(llm.BaseUrl), "url" },
            { new StringContent("scripted-model"), "model" },
            { new StringContent("2"), "concurrency" },
            { new StringContent("on"), "strictPrompt" },
        };
        var file = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(Benchmarks));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        form.Add(file, "file", "benchmarks.json");
        var posted = await host.Browser.PostAsync("/evaluations", form);
        var answer = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, answer);
        var id = long.Parse(StartedLink().Match(answer).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        JsonObject run;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            await Task.Delay(300);
            run = (await host.Browser.GetFromJsonAsync<JsonObject>($"/api/evaluation-runs/{id}"))!;
        } while (run["status"]!.GetValue<string>() is "Queued" or "Running" && DateTime.UtcNow < deadline);
        Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        Assert.Equal(5, llm.Requests.Count);
        Assert.All(llm.Requests, r => Assert.Contains("The answer is A.'", r.LastUserMessage));

        // q0 right (after the final-response header), q1 right (option text), q2 empty: 2 of 3, 1 unparsed.
        var detail = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/evaluations/{id}"));
        var medqa = Row(detail, "score-MedQA_USLME_test");
        // The reference scorer's figure drops the empty answer: 2 of 2.
        Assert.Equal(["MedQA_USLME_test", "3", "2", "66.7%", "20.8%–93.9%", "1", "0", "100.0% (of 2)"], Cells(medqa));
        Assert.Equal(["PubMedQA_test", "2", "1", "50.0%", "9.5%–90.5%", "0", "0", "50.0% (of 2)"], Cells(Row(detail, "score-PubMedQA_test")));
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
            ["_handler"] = "start-search", ["__RequestVerificationToken"] = AntiforgeryField().Match(runs).Groups[1].Value,
            ["endpoint"] = "nowhere", ["verifier"] = "rule",
        }));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("No LLM endpoint named &#x27;nowhere&#x27;", await refused.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AJsonlBenchmarkAlreadyInBlobStorageIsEvaluatedAndAMissingOneIsRefused()
    {
        await using var llm = await ScriptedChatServer.StartAsync(Answer);
        await using var host = await StartAsync();
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
        JsonObject run;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            await Task.Delay(300);
            run = (await host.Browser.GetFromJsonAsync<JsonObject>($"/api/evaluation-runs/{id}"))!;
        } while (run["status"]!.GetValue<string>() is "Queued" or "Running" && DateTime.UtcNow < deadline);
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
    public async Task APipelineRunsPageShowsItsProgressAndAnAdminCancelsItFromTheForm()
    {
        await using var host = await StartAsync();
        long id;
        await using (var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync())
        {
            var run = new PipelineRun
            {
                Kind = PipelineRunKind.Construction, Parameters = "{\"endpoint\":\"inference\"}", Status = RunStatus.Running,
                ItemsTotal = 10, ItemsDone = 4, ItemsSucceeded = 3, ItemsFailed = 1, StartedAt = DateTime.UtcNow,
            };
            db.PipelineRuns.Add(run);
            await db.SaveChangesAsync();
            id = run.Id;
        }

        var page = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/runs/{id}"));
        Assert.Contains("4 / 10", page);
        Assert.Contains("<td id=\"succeeded\">3</td>", page);
        Assert.Contains("<td id=\"failed\">1</td>", page);
        Assert.Contains("id=\"form-cancel-run\"", page);
        Assert.Contains("<meta http-equiv=\"refresh\" content=\"5\"", page); // an active run's page reloads itself

        var cancelled = await host.Browser.PostAsync($"/runs/{id}", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "cancel-run", ["__RequestVerificationToken"] = AntiforgeryField().Match(page).Groups[1].Value,
        }));
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        await using (var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync())
        {
            var run = await db.PipelineRuns.SingleAsync(r => r.Id == id);
            Assert.Equal((RunStatus.Cancelled, true), (run.Status, run.CancellationRequested));
        }
        var after = await host.Browser.GetStringAsync($"/runs/{id}");
        Assert.DoesNotContain("id=\"form-cancel-run\"", after);
        Assert.DoesNotContain("http-equiv=\"refresh\"", after);
    }

    [Fact]
    public async Task AnEvaluationRunsAgainstTheOwnInferenceServiceAndAnAdminSwitchesTheServedModelFromTheDashboard()
    {
        await using var host = await StartAsync();
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
        JsonObject run;
        var deadline = DateTime.UtcNow.AddMinutes(2);
        do
        {
            await Task.Delay(300);
            run = (await host.Browser.GetFromJsonAsync<JsonObject>($"/api/evaluation-runs/{id}"))!;
        } while (run["status"]!.GetValue<string>() is "Queued" or "Running" && DateTime.UtcNow < deadline);
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
        var folder = Path.Combine(fixture.DataDirectory, $"switch-{Guid.NewGuid():N}", "model"); // removed with the fixture
        using (ModelPresets.Create(folder, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed: 5)) { }
        var training = await host.Browser.GetStringAsync("/training");
        var switched = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "switch-model", ["__RequestVerificationToken"] = AntiforgeryField().Match(training).Groups[1].Value,
            ["path"] = folder, ["model_id"] = "switched-tiny",
        }));
        var page = await switched.Content.ReadAsStringAsync();
        Assert.True(switched.StatusCode == HttpStatusCode.OK, page);
        Assert.Contains("Done.", Row(page, "answer-switch-model", "</p>"));
        Assert.Contains("\"switched-tiny\"", await host.Browser.GetStringAsync("/v1/models"));
    }

    [Fact]
    public async Task ASearchRunStartedFromTheFormShowsItsItemWaitingForARetryWithTheReason()
    {
        await using var llm = await ScriptedChatServer.StartAsync(_ => ScriptedReply.ServerError("the GPU is on fire"));
        await using var host = await StartAsync($"--Llm:Endpoints:flaky:BaseUrl={llm.BaseUrl}", "--Llm:Endpoints:flaky:Model=scripted-model",
            "--Llm:Endpoints:flaky:MaxRetries=0");
        long datasetId;
        await using (var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync())
        {
            var dataset = new Dataset { Name = $"flaky-{Guid.NewGuid():N}" };
            var problem = new VerifiableProblem
            {
                Dataset = dataset, OpenEndedQuestion = "What is 5 mg/kg for 70 kg?", GroundTruthAnswer = "350 mg", Status = ProblemStatus.Accepted,
                ContentSha256 = Guid.NewGuid().ToString("N"),
            };
            db.VerifiableProblems.Add(problem);
            await db.SaveChangesAsync();
            datasetId = dataset.Id;
        }

        var id = await StartSearchFromTheFormAsync(host, "flaky", datasetId);

        // The item fails, and Hangfire schedules its retry (15 s later): the run page lists it with the reason.
        string page;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            await Task.Delay(300);
            page = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/runs/{id}"));
        } while (!page.Contains("class=\"item-retrying\"", StringComparison.Ordinal) && DateTime.UtcNow < deadline);
        var item = Row(page, "items", "</table>");
        Assert.Contains("SearchProblem", item);
        Assert.Contains("Retrying", item);
        Assert.Contains("Retry attempt 1 of 3", item);
        Assert.True(item.Contains("the GPU is on fire", StringComparison.Ordinal), item);
        Assert.Contains("0 / 1", page);

        // Cancelled from its page, it leaves no search run active for the other tests.
        var cancelled = await host.Browser.PostAsync($"/runs/{id}", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "cancel-run", ["__RequestVerificationToken"] = AntiforgeryField().Match(page).Groups[1].Value,
        }));
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        Assert.Equal("Cancelled", (await host.Browser.GetFromJsonAsync<JsonObject>($"/api/pipeline-runs/{id}"))!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task ASearchRunPageListsTheProblemWhoseSearchFailedForGoodWithItsReasonAndNotTheSolvedOne()
    {
        // Every reply about the "(garbled)" problem, repairs included, is prose: its search ends malformed, for good.
        await using var llm = await ScriptedChatServer.StartAsync(request =>
        {
            var prompt = request.Messages.First(m => m.Role == "user").Content;
            if (prompt.Contains("(garbled)", StringComparison.Ordinal)) return ScriptedReply.Text("I would rather not answer in JSON.");
            if (prompt.StartsWith("<Thought Process>", StringComparison.Ordinal)) return ScriptedReply.Text(JsonSerializer.Serialize(new { NaturalReasoning = "Dose times weight.\nSo 350 mg." }));
            if (prompt.StartsWith("<Internal Thinking>", StringComparison.Ordinal)) return ScriptedReply.Text("350 mg.");
            return ScriptedReply.Text(JsonSerializer.Serialize(new
            {
                CoT = new[]
                {
                    new { action = "Inner Thinking", title = "Dose", content = "5 mg/kg times 70 kg." },
                    new { action = "Final Conclusion", title = "", content = "350 mg" },
                    new { action = "Verification", title = "", content = "Checked." },
                },
            }));
        });
        await using var host = await StartAsync($"--Llm:Endpoints:scripted:BaseUrl={llm.BaseUrl}", "--Llm:Endpoints:scripted:Model=scripted-model",
            "--Llm:Endpoints:scripted:MaxRetries=0");
        var dbs = host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>();
        long datasetId, solvedId, garbledId;
        await using (var db = await dbs.CreateDbContextAsync())
        {
            var dataset = new Dataset { Name = $"failing-{Guid.NewGuid():N}" };
            VerifiableProblem Problem(string question) => new()
            {
                Dataset = dataset, OpenEndedQuestion = question, GroundTruthAnswer = "350 mg", Status = ProblemStatus.Accepted,
                ContentSha256 = Guid.NewGuid().ToString("N"),
            };
            var solved = Problem("What is 5 mg/kg for 70 kg?");
            var garbled = Problem("What is 5 mg/kg for 70 kg (garbled)?");
            db.VerifiableProblems.AddRange(solved, garbled);
            await db.SaveChangesAsync();
            (datasetId, solvedId, garbledId) = (dataset.Id, solved.Id, garbled.Id);
        }

        var id = await StartSearchFromTheFormAsync(host, "scripted", datasetId);

        // Malformed output is a failure of the item, not of the job: no Hangfire retry, the run ends at once.
        PipelineRun run;
        var deadline = DateTime.UtcNow.AddMinutes(2);
        await using (var db = await dbs.CreateDbContextAsync())
        {
            do
            {
                await Task.Delay(300);
                run = await db.PipelineRuns.AsNoTracking().SingleAsync(r => r.Id == id);
            } while (run.Status == RunStatus.Running && DateTime.UtcNow < deadline);
        }
        var page = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/runs/{id}"));
        Assert.True((RunStatus.CompletedWithFailures, 1, 1) == (run.Status, run.ItemsSucceeded, run.ItemsFailed), page);
        // The page says what happened and why, not "Succeeded".
        Assert.Contains("id=\"run-status\">(Completed with failures)", page);
        Assert.Contains("1 of 2 items failed; the latest reason: problem", Row(page, "run-error", "</p>"));
        Assert.Contains("id=\"failed-items-count\">1</a>", page);
        var failed = Row(page, "failed-items", "</table>");
        Assert.Contains($"problem {garbledId}</td>", failed);
        Assert.Contains("malformed output after a repair retry (attempt 1, Init)", failed);
        Assert.Contains("I would rather not answer in JSON.", failed); // the last output, in its <details>
        Assert.Contains($"href=\"/problems/{garbledId}\"", failed);
        Assert.Matches("href=\"/trajectories/\\d+\"", failed);
        Assert.Equal("1", Cells(failed.Split("</tr>")[1])[2]); // attempts
        Assert.DoesNotContain($"/problems/{solvedId}\"", failed);
        Assert.DoesNotContain("id=\"failed-items-more\"", page);

        // The linked trajectory page numbers its one attempt as the search does, from 1.
        var trajectory = WebUtility.HtmlDecode(await host.Browser.GetStringAsync(
            System.Text.RegularExpressions.Regex.Match(failed, "href=\"(/trajectories/\\d+)\"").Groups[1].Value));
        Assert.Contains("<h2>Attempt 1 ✗</h2>", trajectory);
        Assert.DoesNotContain("Attempt 2", trajectory);
    }

    [Fact]
    public async Task WithAPasswordTheAdminFormsAndTheEvaluationApiRefuseAnonymousCallers()
    {
        await using var host = await StartAsync("--Admin:Password=eval-s3cret");
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var before = await db.PipelineRuns.CountAsync();

        // The API: 401 without the key or with a wrong one; with the key the request gets as far as its validation.
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Browser.PostAsJsonAsync("/api/evaluation-runs", new { datasetId = 1 })).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Browser.PostAsync("/api/evaluation-runs/1/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Browser.PostAsync("/api/evaluation-runs/1/resume", null)).StatusCode);
        using (var wrong = new HttpRequestMessage(HttpMethod.Post, "/api/evaluation-runs") { Content = JsonContent.Create(new { datasetId = 1 }) })
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "guess");
            Assert.Equal(HttpStatusCode.Unauthorized, (await host.Browser.SendAsync(wrong)).StatusCode);
        }
        using (var keyed = new HttpRequestMessage(HttpMethod.Post, "/api/evaluation-runs") { Content = JsonContent.Create(new { datasetId = 999999999 }) })
        {
            keyed.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "eval-s3cret");
            var response = await host.Browser.SendAsync(keyed);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("dataset 999999999 does not exist", await response.Content.ReadAsStringAsync());
        }

        // The pages: no admin forms for an anonymous visitor, and a forged post (with a valid antiforgery token) is refused.
        var evaluations = await host.Browser.GetStringAsync("/evaluations");
        Assert.DoesNotContain("form-start-evaluation", evaluations);
        Assert.DoesNotContain("form-start-search", await host.Browser.GetStringAsync("/runs"));
        var anonymousTraining = await host.Browser.GetStringAsync("/training");
        Assert.DoesNotContain("form-start-sft", anonymousTraining);
        Assert.DoesNotContain("form-start-ppo", anonymousTraining);
        var token = AntiforgeryField().Match(await host.Browser.GetStringAsync("/login")).Groups[1].Value;
        var forged = await host.Browser.PostAsync("/runs", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-search", ["__RequestVerificationToken"] = token, ["verifier"] = "rule",
        }));
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Contains("Refused: admin actions need an administrator", await forged.Content.ReadAsStringAsync());
        Assert.Equal(before, await db.PipelineRuns.CountAsync());

        // Signed in, the same visitor sees the forms; the dashboard calls the APIs with the key.
        var login = await host.Browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "admin-login", ["__RequestVerificationToken"] = token, ["Input.Password"] = "eval-s3cret",
        }));
        Assert.True(login.IsSuccessStatusCode || login.StatusCode == HttpStatusCode.Redirect, login.StatusCode.ToString());
        var training = await host.Browser.GetStringAsync("/training");
        Assert.Contains("id=\"form-start-sft\"", training);
        Assert.Contains("id=\"form-start-ppo\"", training);
        var sft = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-sft", ["__RequestVerificationToken"] = AntiforgeryField().Match(training).Groups[1].Value,
            ["model"] = "/no/such/model", ["data"] = "/no/such/data.jsonl",
        }));
        var sftPage = WebUtility.HtmlDecode(await sft.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, sft.StatusCode);
        Assert.Contains("model '/no/such/model' is not a model folder", sftPage);
        Assert.Equal(before, await db.PipelineRuns.CountAsync());
    }

    [Fact]
    public async Task AnAdminStartsAPpoRunFromTheTrainingPageAndItTrainsToTheEndWithTheApisDefaultsForTheFieldsLeftEmpty()
    {
        var dir = Path.Combine(fixture.DataDirectory, $"ppo-form-{Guid.NewGuid():N}"); // removed with the fixture
        var policy = Path.Combine(dir, "policy");
        using (ModelPresets.Create(policy, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed: 9)) { }
        var data = Path.Combine(dir, "ppo.jsonl");
        await File.WriteAllLinesAsync(data, Enumerable.Range(1, 4).Select(i =>
            new JsonObject { ["Question"] = $"Dose {i} mg/kg for 10 kg?", ["Ground-True Answer"] = $"{10 * i} mg" }.ToJsonString()));
        await using var host = await StartAsync($"--Trainer:WorkDirectory={Path.Combine(dir, "work")}");
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var before = await db.TrainingRuns.CountAsync();

        var training = await host.Browser.GetStringAsync("/training");
        Assert.Contains("id=\"form-start-ppo\"", training);
        var token = AntiforgeryField().Match(training).Groups[1].Value;

        // A request the API refuses: the page shows its reasons and no run is queued.
        var refused = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-ppo", ["__RequestVerificationToken"] = token,
            ["policy"] = Path.Combine(dir, "no-such-policy"), ["data"] = data, ["dataset"] = "also-a-dataset",
        }));
        var refusedPage = WebUtility.HtmlDecode(await refused.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains($"policy '{Path.Combine(dir, "no-such-policy")}' is not a model folder", Row(refusedPage, "answer-start-ppo", "</p>"));
        Assert.Contains("give exactly one of data (a file) and dataset", refusedPage);
        Assert.Equal(before, await db.TrainingRuns.CountAsync());

        // Two prompts per rollout, two samples each, one PPO epoch in mini-batches of 2; the value alone learns first.
        var posted = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-ppo", ["__RequestVerificationToken"] = token,
            ["name"] = "ppo from the form", ["policy"] = policy, ["value"] = "", ["data"] = data, ["dataset"] = "", ["verifier"] = "",
            ["learning_rate"] = "1e-4", ["ppo_epochs"] = "1", ["rollout_batch_size"] = "2", ["samples_per_prompt"] = "2",
            ["mini_batch_size"] = "2", ["response_length"] = "6", ["value_warmup_iterations"] = "1", ["temperature"] = "", ["kl_coef"] = "",
        }));
        var answer = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, answer);
        var id = long.Parse(StartedTrainingLink().Match(answer).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        var run = await db.TrainingRuns.AsNoTracking().SingleAsync(r => r.Id == id);
        Assert.Equal((TrainingRunKind.Ppo, "ppo from the form"), (run.Kind, run.Name));
        var config = JsonNode.Parse(run.Config)!;
        // What the form sent.
        Assert.Equal(policy, config["policy"]!.GetValue<string>());
        Assert.Equal(data, config["data"]!.GetValue<string>());
        Assert.Equal(1e-4, config["learning_rate"]!.GetValue<double>());
        Assert.Equal((1, 2, 2, 2, 6, 1), (config["ppo_epochs"]!.GetValue<int>(), config["rollout_batch_size"]!.GetValue<int>(),
            config["samples_per_prompt"]!.GetValue<int>(), config["mini_batch_size"]!.GetValue<int>(), config["response_length"]!.GetValue<int>(),
            config["value_warmup_iterations"]!.GetValue<int>()));
        // The API's defaults for what it left empty.
        Assert.Null(config["value"]);
        Assert.Null(config["dataset"]);
        Assert.Null(config["value_learning_rate"]);
        Assert.Equal("rule", config["verifier"]!.GetValue<string>());
        Assert.Equal(0.5, config["temperature"]!.GetValue<double>());
        Assert.Equal(0.03, config["kl_coef"]!.GetValue<double>());
        Assert.Equal(50, config["save_every"]!.GetValue<int>());

        run = await WaitForEndAsync(db, id);
        Assert.True(run.Status == RunStatus.Succeeded, $"{run.Status}: {run.Error}");
        Assert.True(await db.TrainingMetrics.AnyAsync(m => m.TrainingRunId == id && m.Name == "reward"));
        var page = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/training/{id}"));
        Assert.Contains("ppo from the form <small>(Ppo, Succeeded)</small>", page);
        Assert.Contains("id=\"chart-reward\"", page);
        Assert.Contains($"href=\"/training/{id}\"", await host.Browser.GetStringAsync("/training"));
    }

    [Fact]
    public async Task AnAdminStartsAnSftRunFromTheTrainingPageAndItTrainsToTheEnd()
    {
        var dir = Path.Combine(fixture.DataDirectory, $"sft-form-{Guid.NewGuid():N}"); // removed with the fixture
        var (model, data) = await TinySftRun.WriteAsync(dir, examples: 4, seed: 4);
        await using var host = await StartAsync($"--Trainer:WorkDirectory={Path.Combine(dir, "work")}");
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();

        var training = await host.Browser.GetStringAsync("/training");
        var posted = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-sft", ["__RequestVerificationToken"] = AntiforgeryField().Match(training).Groups[1].Value,
            ["name"] = "sft from the form", ["model"] = model, ["data"] = data, ["epochs"] = "1", ["learning_rate"] = "1e-3",
            ["batch_size"] = "2", ["micro_batch_size"] = "1", ["max_seq_len"] = "128", ["save_every"] = "100",
        }));
        var answer = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, answer);
        var id = long.Parse(StartedTrainingLink().Match(answer).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        var run = await WaitForEndAsync(db, id);
        Assert.Equal(TrainingRunKind.Sft, run.Kind);
        Assert.True(run.Status == RunStatus.Succeeded, $"{run.Status}: {run.Error}");
        // 4 examples, 2 per optimizer step, 1 epoch.
        Assert.Equal(2, await db.TrainingMetrics.Where(m => m.TrainingRunId == id && m.Name == "loss").CountAsync());
        Assert.Contains("sft from the form <small>(Sft, Succeeded)</small>", WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/training/{id}")));
    }

    /// <summary>The training run once it has left Queued and Running, polled in the database (at most 3 minutes).</summary>
    private static async Task<TrainingRun> WaitForEndAsync(HuatuoDbContext db, long id)
    {
        TrainingRun run;
        var deadline = DateTime.UtcNow.AddMinutes(3);
        do
        {
            await Task.Delay(300);
            run = await db.TrainingRuns.AsNoTracking().SingleAsync(r => r.Id == id);
        } while (run.Status is RunStatus.Queued or RunStatus.Running && DateTime.UtcNow < deadline);
        return run;
    }

    /// <summary>An admin starts a search run (rule verifier, one attempt, depth 1) from the /runs form; returns its id.</summary>
    private static async Task<long> StartSearchFromTheFormAsync(RunningHost host, string endpoint, long datasetId)
    {
        var runs = await host.Browser.GetStringAsync("/runs");
        var posted = await host.Browser.PostAsync("/runs", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-search", ["__RequestVerificationToken"] = AntiforgeryField().Match(runs).Groups[1].Value,
            ["endpoint"] = endpoint, ["verifier"] = "rule", ["datasetId"] = datasetId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["maxDepth"] = "1", ["maxAttempts"] = "1",
        }));
        var answer = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, answer);
        return long.Parse(RunLink().Match(answer).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Row(string html, string id, string end = "</tr>")
    {
        var start = html.IndexOf($"id=\"{id}\"", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no element {id}");
        return html[start..html.IndexOf(end, start, StringComparison.Ordinal)];
    }

    private static string[] Cells(string row) =>
        CellPattern().Matches(row).Select(m => TagPattern().Replace(m.Groups[1].Value, "").Trim()).ToArray();

    private async Task<RunningHost> StartAsync(params string[] args)
    {
        var port = FreePort.Pick();
        var app = await AllInOneHost.CreateAsync(new AllInOneOptions(fixture.DataDirectory, $"http://127.0.0.1:{port}", args),
            fixture.Infrastructure, CancellationToken.None);
        await app.StartAsync();
        // A browser: cookies (antiforgery, sign-in) kept, redirects not followed.
        var browser = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
        };
        return new RunningHost(app, browser);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    [GeneratedRegex("Started: <a href=\"/evaluations/(\\d+)\"")]
    private static partial Regex StartedLink();

    [GeneratedRegex("Started: <a href=\"/training/(\\d+)\"")]
    private static partial Regex StartedTrainingLink();

    [GeneratedRegex("Started: <a href=\"/runs/(\\d+)\"")]
    private static partial Regex RunLink();

    [GeneratedRegex("<td[^>]*>(.*?)</td>", RegexOptions.Singleline)]
    private static partial Regex CellPattern();

    [GeneratedRegex("<[^>]+>")]
    private static partial Regex TagPattern();

    private sealed record RunningHost(WebApplication App, HttpClient Browser) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Browser.Dispose();
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }
}
