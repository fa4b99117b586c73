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

/// <summary>The pipeline-run pages (/runs): progress, cancelling, items waiting for a retry, items failed for good.</summary>
public sealed partial class EvaluationDashboardTests
{
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
        // The progress is live over the circuit: the page carries Blazor's script and no longer reloads itself.
        Assert.Contains("_framework/blazor.web.js", page);
        Assert.DoesNotContain("http-equiv=\"refresh\"", page);
        Assert.DoesNotContain("id=\"run-traces\"", page); // no Aspire dashboard here

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
        // The attempt's strategy sequence as a timeline, each entry linked to its step.
        Assert.Contains("id=\"timeline-1\"", trajectory);
        Assert.Contains("href=\"#step-1-", trajectory);
        Assert.DoesNotContain("Attempt 2", trajectory);
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
}
