using System.Text.Json;
using Hangfire;
using Hangfire.States;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.ScriptedLlm;
using HuatuoAspire.Workers.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace HuatuoAspire.Workers.FunctionalTests;

/// <summary>A pipeline run always ends, whatever its items' model outputs hold and however their jobs end.</summary>
[Collection(PostgresCollection.Name)]
public sealed class RunEndingTests(InfrastructureFixture fixture)
{
    private const string Question = "A traveller back from Kenya has vivax malaria on smear. Which drug clears the dormant liver stage?";

    [Fact]
    public async Task AModelOutputHoldingNulIsStoredAndItsRunSucceeds()
    {
        var (_, dbs) = await fixture.CreateMigratedDatabaseAsync();
        await ConstructionJobsTests.SeedQuestionsAsync(dbs, Question);
        // The rewrite's answer carries NUL characters, as a garbled model output can (PostgreSQL refuses them in text and jsonb).
        await using var server = await ScriptedChatServer.StartAsync(request =>
        {
            var prompt = request.Messages.First(m => m.Role == "user").Content;
            return prompt.StartsWith("<Multiple-choice Question>", StringComparison.Ordinal)
                ? ScriptedReply.Text("{\"verdict\": \"Pass\"}\u0000")
                : ScriptedReply.Text(JsonSerializer.Serialize(new Dictionary<string, string>
                {
                    ["Open-ended Verifiable Question"] = "Which drug clears the\u0000 dormant liver stage of vivax malaria?",
                    ["Ground-True Answer"] = "Primaquine",
                }));
        });
        using var llms = new LlmEndpointRegistry([new LlmEndpointOptions { Name = "inference", BaseUrl = server.BaseUri, Model = "m", MaxRetries = 0 }]);
        var client = new RecordingJobClient();
        var jobs = new ConstructionJobs(dbs, llms, client, NullLogger<ConstructionJobs>.Instance);

        var runId = await jobs.StartRunAsync(new ConstructionRunParameters());
        await jobs.ConstructQuestionAsync(runId, (long)client.Jobs.Single().Args[1]!, null, CancellationToken.None);

        await using var db = await dbs.CreateDbContextAsync();
        var problem = await db.VerifiableProblems.SingleAsync();
        Assert.Equal(("Which drug clears the\uFFFD dormant liver stage of vivax malaria?", ProblemStatus.Accepted), (problem.OpenEndedQuestion, problem.Status));
        Assert.Contains("\uFFFD", problem.StageExchanges.Single(e => e.Stage == "llm-filter").RawAnswer);
        var run = await db.PipelineRuns.SingleAsync(r => r.Id == runId);
        Assert.Equal((RunStatus.Succeeded, 1, 1), (run.Status, run.ItemsDone, run.ItemsSucceeded));
    }

    [Fact]
    public async Task TextWithNulAndLoneSurrogatesIsStoredInTextJsonbAndJsonDocumentColumns()
    {
        var (_, dbs) = await fixture.CreateMigratedDatabaseAsync();
        const string garbled = "before\u0000middle\uD800lone high\uDC00lone low 😀 after";
        const string stored = "before\uFFFDmiddle\uFFFDlone high\uFFFDlone low 😀 after";
        long questionId;
        await using (var db = await dbs.CreateDbContextAsync())
        {
            var question = new ExamQuestion
            {
                Dataset = new Dataset { Name = "garbled" }, Question = garbled, AnswerIdx = "A", Answer = garbled, Source = "test",
                Options = new Dictionary<string, string> { ["A"] = garbled }, ContentSha256 = new string('a', 64),
                Meta = """{"note": "nul \u0000 and a lone \ud800 escape, kept: \\u0000 and \ud83d\ude00"}""",
            };
            db.ExamQuestions.Add(question);
            db.VerifiableProblems.Add(new VerifiableProblem
            {
                Dataset = question.Dataset, ExamQuestion = question, OpenEndedQuestion = garbled, GroundTruthAnswer = garbled, ContentSha256 = new string('b', 64),
                StageExchanges = [new StageExchange { Stage = "reformulate", Prompt = garbled, RawAnswer = garbled }],
            });
            db.PipelineRuns.Add(new PipelineRun { Kind = PipelineRunKind.Construction, Parameters = """{"endpoint": "x\u0000"}""", Error = garbled });
            await db.SaveChangesAsync();
            questionId = question.Id;
        }

        await using (var db = await dbs.CreateDbContextAsync())
        {
            var question = await db.ExamQuestions.SingleAsync(q => q.Id == questionId);
            Assert.Equal((stored, stored, stored), (question.Question, question.Answer, question.Options["A"]));
            var meta = JsonDocument.Parse(question.Meta!).RootElement.GetProperty("note").GetString();
            Assert.Equal("nul \uFFFD and a lone \uFFFD escape, kept: \\u0000 and 😀", meta);
            var problem = await db.VerifiableProblems.SingleAsync();
            Assert.Equal((stored, stored), (problem.OpenEndedQuestion, problem.StageExchanges.Single().RawAnswer));
            var run = await db.PipelineRuns.SingleAsync();
            Assert.Equal(stored, run.Error);
            Assert.Equal("x\uFFFD", JsonDocument.Parse(run.Parameters).RootElement.GetProperty("endpoint").GetString());
        }
    }

    [Fact]
    public async Task ARunEndsWhenItsLastItemJobFailsForGoodOrIsDeletedFromHangfire()
    {
        var (connectionString, dbs) = await fixture.CreateMigratedDatabaseAsync();
        await ConstructionJobsTests.SeedQuestionsAsync(dbs, Question, Question + " (again)");
        // A process that enqueues and manages jobs but runs none (like the dashboard): the items stay in the queue.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Development" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"ConnectionStrings:{HuatuoDataExtensions.DatabaseConnectionName}"] = connectionString,
        });
        builder.AddHuatuoData();
        Data.Jobs.HuatuoJobStorage.AddHuatuoJobStorage(builder);
        using var host = builder.Build();
        var client = host.Services.GetRequiredService<IBackgroundJobClient>();
        var storage = host.Services.GetRequiredService<Hangfire.JobStorage>();
        using var llms = new LlmEndpointRegistry([new LlmEndpointOptions { Name = "inference", BaseUrl = new Uri("http://127.0.0.1:9/v1/"), Model = "m" }]);
        var jobs = new ConstructionJobs(dbs, llms, client, NullLogger<ConstructionJobs>.Instance);

        var runId = await jobs.StartRunAsync(new ConstructionRunParameters());
        var items = storage.GetMonitoringApi().EnqueuedJobs(Data.Jobs.HuatuoJobStorage.Queues.Construction, 0, 10).Select(j => j.Key).Order().ToList();
        Assert.Equal(2, items.Count);

        // The first item's job runs out of retries on an unexpected error: Hangfire marks it Failed for good.
        using (var connection = storage.GetConnection()) connection.SetJobParameter(items[0], "RetryCount", ConstructionJobs.JobRetries.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(client.ChangeState(items[0], new FailedState(new InvalidOperationException("22P05: unsupported Unicode escape sequence")), EnqueuedState.StateName));
        var run = await ReadRunAsync(dbs, runId);
        Assert.Equal((RunStatus.Running, 1, 1), (run.Status, run.ItemsDone, run.ItemsFailed));
        Assert.Contains("22P05", run.Error);

        // The second one is deleted from Hangfire before any worker took it: the run ends, Failed, and says why.
        Assert.True(client.Delete(items[1]));
        run = await ReadRunAsync(dbs, runId);
        Assert.Equal((RunStatus.Failed, 2, 0, 2), (run.Status, run.ItemsDone, run.ItemsSucceeded, run.ItemsFailed));
        Assert.Contains("All 2 items failed", run.Error);
        Assert.Contains($"its Hangfire job {items[1]} was deleted", run.Error);

        // Deleting the failed job afterwards counts nothing twice, and a new run can start.
        Assert.True(client.Delete(items[0]));
        Assert.Equal(2, (await ReadRunAsync(dbs, runId)).ItemsDone);
        await ConstructionJobsTests.SeedQuestionsAsync(dbs, Question + " (a third)");
        Assert.NotEqual(runId, await jobs.StartRunAsync(new ConstructionRunParameters()));
    }

    [Fact]
    public async Task ARunWhoseEveryItemFailsEndsFailedWithTheReasonAndOneWithNothingToDoSaysSo()
    {
        var (_, dbs) = await fixture.CreateMigratedDatabaseAsync();
        var nothing = await ReadRunAsync(dbs, await new ConstructionJobs(dbs, new LlmEndpointRegistry([]), new RecordingJobClient(), NullLogger<ConstructionJobs>.Instance)
            .StartRunAsync(new ConstructionRunParameters()));
        Assert.Equal((RunStatus.NothingToDo, "No exam question without a problem: import questions first."), (nothing.Status, nothing.Error));

        await ConstructionJobsTests.SeedQuestionsAsync(dbs, Question, Question + " (again)");
        // The endpoint serves another model than the one asked for, as after an admin switched the served checkpoint.
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Error(404, "The model 'default' does not exist.", "invalid_request_error", "model_not_found"));
        using var llms = new LlmEndpointRegistry([new LlmEndpointOptions { Name = "inference", BaseUrl = server.BaseUri, Model = "default", MaxRetries = 0 }]);
        var client = new RecordingJobClient();
        var jobs = new ConstructionJobs(dbs, llms, client, NullLogger<ConstructionJobs>.Instance);
        var runId = await jobs.StartRunAsync(new ConstructionRunParameters());
        foreach (var job in client.Jobs) await jobs.ConstructQuestionAsync(runId, (long)job.Args[1]!, null, CancellationToken.None);

        var run = await ReadRunAsync(dbs, runId);
        Assert.Equal((RunStatus.Failed, 2, 0, 2), (run.Status, run.ItemsDone, run.ItemsSucceeded, run.ItemsFailed));
        Assert.Contains("All 2 items failed; the latest reason: question", run.Error);
        Assert.Contains("does not exist", run.Error);
    }

    private static async Task<PipelineRun> ReadRunAsync(IDbContextFactory<HuatuoDbContext> dbs, long runId)
    {
        await using var db = await dbs.CreateDbContextAsync();
        return await db.PipelineRuns.AsNoTracking().SingleAsync(r => r.Id == runId);
    }
}
