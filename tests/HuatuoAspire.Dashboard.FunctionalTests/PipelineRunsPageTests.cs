using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bunit;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.ScriptedLlm;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static HuatuoAspire.Dashboard.FunctionalTests.DashboardHtml;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// The pipeline-run pages (/runs): progress, cancelling, items waiting for a retry, items failed for good, and the
/// live part (rendered by bUnit on the host's PostgreSQL) following a run without a reload.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class PipelineRunsPageTests(DashboardFixture fixture)
{
    [Fact]
    public async Task APipelineRunsPageShowsItsProgressAndAnAdminCancelsItFromTheForm()
    {
        var host = await fixture.HostAsync();
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
        // The progress is live over the circuit: the page carries Blazor's script and no longer reloads itself.
        Assert.Contains("_framework/blazor.web.js", page);
        Assert.DoesNotContain("http-equiv=\"refresh\"", page);
        Assert.DoesNotContain("id=\"run-traces\"", page); // no Aspire dashboard here

        var cancelled = await host.Browser.PostAsync($"/runs/{id}", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "cancel-run", ["__RequestVerificationToken"] = AntiforgeryToken(page),
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
    public async Task ASearchRunStartedFromTheFormShowsItsItemWaitingForARetryWithTheReason()
    {
        await using var llm = await ScriptedChatServer.StartAsync(_ => ScriptedReply.ServerError("the GPU is on fire"));
        var host = await fixture.HostAsync($"--Llm:Endpoints:flaky:BaseUrl={llm.BaseUrl}", "--Llm:Endpoints:flaky:Model=scripted-model",
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
        var page = await Eventually.ReachesAsync(async () => WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/runs/{id}")),
            html => html.Contains("class=\"item-retrying\"", StringComparison.Ordinal), TimeSpan.FromSeconds(30),
            $"run {id}'s page to list an item waiting for a retry", TimeSpan.FromMilliseconds(300));
        var item = Row(page, "items", "</table>");
        Assert.Contains("SearchProblem", item);
        Assert.Contains("Retrying", item);
        Assert.Contains("Retry attempt 1 of 3", item);
        Assert.True(item.Contains("the GPU is on fire", StringComparison.Ordinal), item);
        Assert.Contains("0 / 1", page);

        // Cancelled from its page, it leaves no search run active for the other tests.
        var cancelled = await host.Browser.PostAsync($"/runs/{id}", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "cancel-run", ["__RequestVerificationToken"] = AntiforgeryToken(page),
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
        var host = await fixture.HostAsync($"--Llm:Endpoints:scripted:BaseUrl={llm.BaseUrl}", "--Llm:Endpoints:scripted:Model=scripted-model",
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
        await using (var db = await dbs.CreateDbContextAsync()) run = await RunsToEnd.PipelineAsync(db, id, TimeSpan.FromMinutes(2));
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
        // The attempt's strategy sequence as a timeline, each entry linked to its step.
        Assert.Contains("id=\"timeline-1\"", trajectory);
        Assert.Contains("href=\"#step-1-", trajectory);
        Assert.DoesNotContain("Attempt 2", trajectory);
    }

    [Fact]
    public async Task APipelineRunsProgressAndFailedItemsUpdateWithoutAReloadUntilItEnds()
    {
        var host = await fixture.HostAsync();
        var dbs = host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>();
        long id;
        await using (var db = await dbs.CreateDbContextAsync())
        {
            var run = new PipelineRun
            {
                Kind = PipelineRunKind.Construction, Parameters = "{}", Status = RunStatus.Running, ItemsTotal = 3, StartedAt = DateTime.UtcNow,
            };
            db.PipelineRuns.Add(run);
            await db.SaveChangesAsync();
            id = run.Id;
        }

        using var browser = new BunitContext();
        browser.Services.AddSingleton(dbs);
        var live = browser.Render<HuatuoAspire.Dashboard.Components.Runs.LivePipelineRun>(p => p
            .Add(c => c.RunId, id).Add(c => c.PollInterval, TimeSpan.FromMilliseconds(200))
            .Add(c => c.TraceLink, "http://localhost:15080/traces/resource/workers"));
        // The first read is asynchronous: the run appears once it is back.
        live.WaitForAssertion(() => Assert.Equal("0 / 3", live.Find("#items-done").TextContent), TimeSpan.FromSeconds(30));
        Assert.Equal("http://localhost:15080/traces/resource/workers", live.Find("#run-traces").GetAttribute("href"));
        live.WaitForAssertion(() => Assert.Equal("yes", live.Find("#live-run").GetAttribute("data-live")));

        // The workers advance the run: the same component instance shows it, heading included.
        await using (var db = await dbs.CreateDbContextAsync())
        {
            await db.PipelineRuns.Where(r => r.Id == id).ExecuteUpdateAsync(u => u
                .SetProperty(r => r.ItemsDone, 2).SetProperty(r => r.ItemsSucceeded, 1).SetProperty(r => r.ItemsFailed, 1));
        }
        live.WaitForAssertion(() => Assert.Equal(("2 / 3", "1"), (live.Find("#items-done").TextContent, live.Find("#failed").TextContent)), TimeSpan.FromSeconds(30));
        await using (var db = await dbs.CreateDbContextAsync())
        {
            await db.PipelineRuns.Where(r => r.Id == id).ExecuteUpdateAsync(u => u
                .SetProperty(r => r.ItemsDone, 3).SetProperty(r => r.ItemsSucceeded, 2).SetProperty(r => r.Status, RunStatus.Succeeded)
                .SetProperty(r => r.FinishedAt, DateTime.UtcNow));
        }
        live.WaitForAssertion(() => Assert.Equal("Succeeded", live.Find("#live-run").GetAttribute("data-status")), TimeSpan.FromSeconds(30));
        Assert.Contains("(Succeeded)", live.Find("#run-status").TextContent);
        Assert.Equal("3 / 3", live.Find("#items-done").TextContent);
        Assert.Contains("not working", live.Find("#live-run-state").TextContent);
    }

    /// <summary>An admin starts a search run (rule verifier, one attempt, depth 1) from the /runs form; returns its id.</summary>
    private static async Task<long> StartSearchFromTheFormAsync(RunningHost host, string endpoint, long datasetId)
    {
        var runs = await host.Browser.GetStringAsync("/runs");
        var posted = await host.Browser.PostAsync("/runs", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-search", ["__RequestVerificationToken"] = AntiforgeryToken(runs),
            ["endpoint"] = endpoint, ["verifier"] = "rule", ["datasetId"] = datasetId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["maxDepth"] = "1", ["maxAttempts"] = "1",
        }));
        var answer = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, answer);
        return StartedId(answer, "runs");
    }
}
