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

        // A failed training run's error and the files it names are server paths: an anonymous visitor sees neither.
        var failed = new TrainingRun
        {
            Kind = TrainingRunKind.Sft, Name = "leaky", Status = RunStatus.Failed, Error = "could not read /srv/private/sft.jsonl: line 3",
            Config = """{"kind":"sft","name":"leaky","model":"/srv/private/model","data":"/srv/private/sft.jsonl","epochs":1}""",
        };
        db.TrainingRuns.Add(failed);
        await db.SaveChangesAsync();
        var anonymousRun = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/training/{failed.Id}"));
        Assert.DoesNotContain("/srv/private", anonymousRun);
        Assert.Contains("sign in as an admin to see why", anonymousRun);
        Assert.Contains("<th>epochs</th><td>1</td>", Row(anonymousRun, "configuration", "</table>"));

        // Signed in, the same visitor sees the forms; the dashboard calls the APIs with the key.
        var login = await host.Browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "admin-login", ["__RequestVerificationToken"] = token, ["Input.Password"] = "eval-s3cret",
        }));
        Assert.True(login.IsSuccessStatusCode || login.StatusCode == HttpStatusCode.Redirect, login.StatusCode.ToString());
        var signedInRun = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/training/{failed.Id}"));
        Assert.Contains("could not read /srv/private/sft.jsonl: line 3", signedInRun);
        Assert.Contains("<th>model</th><td>/srv/private/model</td>", Row(signedInRun, "configuration", "</table>"));
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
