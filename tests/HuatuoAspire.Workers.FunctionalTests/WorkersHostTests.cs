using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
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

/// <summary>The workers service as it runs: AddWorkers/MapWorkers, a Hangfire server on PostgreSQL, the HTTP API.</summary>
[Collection(PostgresCollection.Name)]
public sealed class WorkersHostTests(InfrastructureFixture fixture)
{
    private static ScriptedReply Answer(RecordedRequest request)
    {
        var prompt = request.Messages.First(m => m.Role == "user").Content;
        if (prompt.StartsWith("<Thought Process>", StringComparison.Ordinal)) return ScriptedReply.Text(JsonSerializer.Serialize(new { NaturalReasoning = "Hmm.\nYes." }));
        if (prompt.StartsWith("<Internal Thinking>", StringComparison.Ordinal)) return ScriptedReply.Text("The answer.");
        if (prompt.StartsWith("<Model Response>", StringComparison.Ordinal)) return ScriptedReply.Text("True");
        return ScriptedReply.Text(JsonSerializer.Serialize(new
        {
            CoT = new object[]
            {
                new { action = "Inner Thinking", title = "t", content = "c" },
                new { action = "Final Conclusion", title = "", content = "the conclusion" },
                new { action = "Verification", title = "", content = "ok" },
            },
        }));
    }

    [Fact]
    public async Task SearchRunStartedOverHttpIsWorkedOffByTheHangfireServer()
    {
        var (connectionString, dbs) = await fixture.CreateMigratedDatabaseAsync();
        await using (var db = await dbs.CreateDbContextAsync())
        {
            var dataset = new Dataset { Name = "host-test" };
            db.VerifiableProblems.AddRange(Enumerable.Range(0, 4).Select(i => new VerifiableProblem
            {
                Dataset = dataset, OpenEndedQuestion = $"Question {i}?", GroundTruthAnswer = "anything", Status = ProblemStatus.Accepted, ContentSha256 = $"{i:x64}",
            }));
            await db.SaveChangesAsync();
        }
        await using var llm = await ScriptedChatServer.StartAsync(Answer);

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"ConnectionStrings:{HuatuoDataExtensions.DatabaseConnectionName}"] = connectionString,
            ["Llm:Endpoints:inference:BaseUrl"] = llm.BaseUrl,
            ["Llm:Endpoints:inference:Model"] = "scripted-model",
            ["Workers:Parallelism"] = "4",
        });
        builder.AddWorkers();
        await using var app = builder.Build();
        app.MapWorkers();
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        var bad = await http.PostAsJsonAsync("api/pipeline-runs/search", new { endpoint = "nowhere" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("No LLM endpoint named 'nowhere'", await bad.Content.ReadAsStringAsync());

        var started = await http.PostAsJsonAsync("api/pipeline-runs/search", new { verifier = "llm", maxDepth = 1, maxAttempts = 1 });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var id = (await started.Content.ReadFromJsonAsync<PipelineRunsApi.RunStarted>())!.Id;

        var conflict = await http.PostAsJsonAsync("api/pipeline-runs/search", new { verifier = "rule" });
        Assert.True(conflict.StatusCode == HttpStatusCode.Conflict || (await http.GetFromJsonAsync<PipelineRunsApi.RunView>($"api/pipeline-runs/{id}"))!.Status == "Succeeded");

        var run = await Eventually.ReachesAsync(async () => (await http.GetFromJsonAsync<PipelineRunsApi.RunView>($"api/pipeline-runs/{id}"))!,
            r => r.Status != "Running", TimeSpan.FromSeconds(90), $"search run {id} to end");

        Assert.Equal(("Succeeded", 4, 4, 4), (run.Status, run.ItemsTotal, run.ItemsDone, run.ItemsSucceeded));
        Assert.Equal(4 * 4, llm.Requests.Count); // initial chain, judge, reformat, final response per problem
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("api/pipeline-runs/999999")).StatusCode);
        await app.StopAsync();
    }
}
