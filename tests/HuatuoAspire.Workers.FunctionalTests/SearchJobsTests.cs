using System.Collections.Concurrent;
using System.Text.Json;
using Hangfire;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.States;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Domain.Search;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.ScriptedLlm;
using HuatuoAspire.Workers.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;

namespace HuatuoAspire.Workers.FunctionalTests;

[Collection(PostgresCollection.Name)]
public sealed class SearchJobsTests(InfrastructureFixture fixture)
{
    private static string Cot(string conclusion, bool refinement = false) => JsonSerializer.Serialize(new
    {
        CoT = (refinement ? new object[] { new { action = "Verification", title = "", content = "It was wrong." } } : [])
            .Concat([
                new { action = "Inner Thinking", title = "Findings", content = "Thinking about " + conclusion },
                new { action = "Final Conclusion", title = "", content = conclusion },
                new { action = "Verification", title = "", content = "Checked." },
            ]),
    });

    /// <summary>Answers with the problem's answer unless the question says "wrong" (then never right); "fail" gives 500s.</summary>
    private static ScriptedReply Answer(RecordedRequest request)
    {
        var prompt = request.Messages.First(m => m.Role == "user").Content;
        if (prompt.Contains("fail", StringComparison.Ordinal)) return ScriptedReply.ServerError();
        if (prompt.StartsWith("<Thought Process>", StringComparison.Ordinal)) return ScriptedReply.Text(JsonSerializer.Serialize(new { NaturalReasoning = "Hmm.\nYes." }));
        if (prompt.StartsWith("<Internal Thinking>", StringComparison.Ordinal)) return ScriptedReply.Text("The answer.");
        var refinement = prompt.Contains("<previous reasoning>", StringComparison.Ordinal);
        var answer = prompt.Contains("wrong", StringComparison.Ordinal) ? "Something else entirely" : prompt.Split("answer is ")[1].Split('?')[0];
        return ScriptedReply.Text(Cot(answer, refinement)).After(TimeSpan.FromMilliseconds(20));
    }

    private static async Task<long[]> SeedProblemsAsync(IDbContextFactory<HuatuoDbContext> dbs, params string[] answers)
    {
        await using var db = await dbs.CreateDbContextAsync();
        var dataset = new Dataset { Name = $"test-{Guid.NewGuid():N}" };
        db.Datasets.Add(dataset);
        var problems = answers.Select((answer, i) => new VerifiableProblem
        {
            Dataset = dataset,
            OpenEndedQuestion = $"Question {i}: the answer is {answer}?",
            GroundTruthAnswer = answer,
            Status = ProblemStatus.Accepted,
            ContentSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(answer + i))),
        }).ToList();
        db.VerifiableProblems.AddRange(problems);
        await db.SaveChangesAsync();
        return problems.Select(p => p.Id).ToArray();
    }

    private static LlmEndpointRegistry Registry(ScriptedChatServer server) => new([new LlmEndpointOptions
    {
        Name = "inference", BaseUrl = server.BaseUri, Model = "scripted-model", MaxRetries = 0, MaxConcurrency = 8,
    }]);

    private static async Task RunRecordedJobsAsync(RecordingJobClient client, SearchJobs jobs)
    {
        while (client.Jobs.TryDequeue(out var job))
        {
            var args = job.Args.ToArray();
            await jobs.SearchProblemAsync((long)args[0]!, (long)args[1]!, null, CancellationToken.None);
        }
    }

    [Fact]
    public async Task RunSearchesEveryProblemRecordsTheTraceAndCounts()
    {
        var (_, dbs) = await fixture.CreateMigratedDatabaseAsync();
        var ids = await SeedProblemsAsync(dbs, "Measles", "wrong", "Mumps");
        await using var server = await ScriptedChatServer.StartAsync(Answer);
        using var llms = Registry(server);
        var client = new RecordingJobClient();
        var jobs = new SearchJobs(dbs, llms, client, NullLogger<SearchJobs>.Instance);

        var runId = await jobs.StartRunAsync(new SearchRunParameters { Verifier = "rule", MaxDepth = 1, MaxAttempts = 2 });
        Assert.Equal(3, client.Jobs.Count);
        Assert.All(client.Jobs, j => Assert.Equal(nameof(SearchJobs.SearchProblemAsync), j.Method.Name));
        await RunRecordedJobsAsync(client, jobs);

        await using var db = await dbs.CreateDbContextAsync();
        var run = await db.PipelineRuns.SingleAsync(r => r.Id == runId);
        Assert.Equal((RunStatus.CompletedWithFailures, 3, 3, 2, 1), (run.Status, run.ItemsTotal, run.ItemsDone, run.ItemsSucceeded, run.ItemsFailed));
        var statuses = await db.VerifiableProblems.OrderBy(p => p.Id).Select(p => p.Status).ToListAsync();
        Assert.Equal([ProblemStatus.Solved, ProblemStatus.Unsolved, ProblemStatus.Solved], statuses);

        var solved = await db.ReasoningTrajectories.Include(t => t.Attempts).ThenInclude(a => a.Steps).SingleAsync(t => t.ProblemId == ids[0]);
        Assert.Equal((TrajectoryStatus.Succeeded, "Hmm.\nYes.", "The answer."), (solved.Status, solved.ComplexCot, solved.Response));
        var step = solved.Attempts.Single().Steps.Single();
        Assert.Equal((SearchStrategy.Init, VerifierVerdict.Correct), (step.Strategy, step.Verdict));
        Assert.Equal(["Inner Thinking", "Final Conclusion", "Verification"], step.ParsedSteps.Select(s => s.Action));
        Assert.Contains("<question>", step.Prompt);

        var unsolved = await db.ReasoningTrajectories.Include(t => t.Attempts).ThenInclude(a => a.Steps).SingleAsync(t => t.ProblemId == ids[1]);
        Assert.Equal(TrajectoryStatus.Failed, unsolved.Status);
        Assert.Equal([1, 2], unsolved.Attempts.Select(a => a.AttemptIndex).Order());
        Assert.All(unsolved.Attempts, a => Assert.Equal([SearchStrategy.Init, a.Steps[1].Strategy], a.Steps.OrderBy(s => s.StepIndex).Select(s => s.Strategy)));
        Assert.All(unsolved.Attempts.SelectMany(a => a.Steps), s => Assert.Equal(VerifierVerdict.Incorrect, s.Verdict));
    }

    [Fact]
    public async Task RerunningAJobNeverDuplicatesTheTrajectory()
    {
        var (_, dbs) = await fixture.CreateMigratedDatabaseAsync();
        var ids = await SeedProblemsAsync(dbs, "Measles");
        await using var server = await ScriptedChatServer.StartAsync(Answer);
        using var llms = Registry(server);
        var client = new RecordingJobClient();
        var jobs = new SearchJobs(dbs, llms, client, NullLogger<SearchJobs>.Instance);
        var runId = await jobs.StartRunAsync(new SearchRunParameters { Verifier = "rule" });

        // The same item delivered three times at once (a worker presumed dead, a second worker, a manual requeue).
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => jobs.SearchProblemAsync(runId, ids[0], null, CancellationToken.None)));
        await jobs.SearchProblemAsync(runId, ids[0], null, CancellationToken.None);

        await using var db = await dbs.CreateDbContextAsync();
        Assert.Equal(1, await db.ReasoningTrajectories.CountAsync(t => t.ProblemId == ids[0]));
        Assert.Equal(ProblemStatus.Solved, (await db.VerifiableProblems.SingleAsync()).Status);
        var run = await db.PipelineRuns.SingleAsync(r => r.Id == runId);
        Assert.Equal((RunStatus.Succeeded, 1, 1), (run.Status, run.ItemsDone, run.ItemsSucceeded));
    }

    [Fact]
    public async Task ItemOfAKilledWorkerIsFinishedWhenHangfireDeliversItAgain()
    {
        var (_, dbs) = await fixture.CreateMigratedDatabaseAsync();
        var ids = await SeedProblemsAsync(dbs, "Measles");
        await using var server = await ScriptedChatServer.StartAsync(Answer);
        using var llms = Registry(server);
        var jobs = new SearchJobs(dbs, llms, new RecordingJobClient(), NullLogger<SearchJobs>.Instance);
        var runId = await jobs.StartRunAsync(new SearchRunParameters { Verifier = "rule" });
        // What a worker killed mid-search leaves behind: the problem claimed, nothing written, nothing counted.
        await using (var db = await dbs.CreateDbContextAsync())
            await db.VerifiableProblems.ExecuteUpdateAsync(set => set.SetProperty(p => p.Status, ProblemStatus.Searching));

        await jobs.SearchProblemAsync(runId, ids[0], null, CancellationToken.None);

        await using var check = await dbs.CreateDbContextAsync();
        Assert.Equal(ProblemStatus.Solved, (await check.VerifiableProblems.SingleAsync()).Status);
        var run = await check.PipelineRuns.SingleAsync(r => r.Id == runId);
        Assert.Equal((RunStatus.Succeeded, 1), (run.Status, run.ItemsDone));
    }

    [Fact]
    public async Task OnlyOneSearchRunAtATime()
    {
        var (_, dbs) = await fixture.CreateMigratedDatabaseAsync();
        await SeedProblemsAsync(dbs, "Measles");
        await using var server = await ScriptedChatServer.StartAsync(Answer);
        using var llms = Registry(server);
        var jobs = new SearchJobs(dbs, llms, new RecordingJobClient(), NullLogger<SearchJobs>.Instance);
        var first = await jobs.StartRunAsync(new SearchRunParameters { Verifier = "rule" });
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => jobs.StartRunAsync(new SearchRunParameters()));
        Assert.Contains($"Search run {first} is still running", error.Message);
        await jobs.CancelRunAsync(first);
        await jobs.StartRunAsync(new SearchRunParameters { Verifier = "rule" });
    }

    [Fact]
    public async Task TransientFailureHandsTheProblemBackAndALaterRunFinishesIt()
    {
        var (_, dbs) = await fixture.CreateMigratedDatabaseAsync();
        var ids = await SeedProblemsAsync(dbs, "fail");
        await using var server = await ScriptedChatServer.StartAsync(Answer);
        using var llms = Registry(server);
        var client = new RecordingJobClient();
        var jobs = new SearchJobs(dbs, llms, client, NullLogger<SearchJobs>.Instance);
        var runId = await jobs.StartRunAsync(new SearchRunParameters { Verifier = "rule" });
        await RunRecordedJobsAsync(client, jobs);

        await using var db = await dbs.CreateDbContextAsync();
        var run = await db.PipelineRuns.SingleAsync(r => r.Id == runId);
        Assert.Equal((RunStatus.Failed, 1, 0, 1), (run.Status, run.ItemsDone, run.ItemsSucceeded, run.ItemsFailed));
        Assert.Equal(ProblemStatus.Accepted, (await db.VerifiableProblems.SingleAsync(p => p.Id == ids[0])).Status);
        Assert.Equal(0, await db.ReasoningTrajectories.CountAsync());
    }

    [Fact]
    public async Task CancelledRunStopsItsItems()
    {
        var (_, dbs) = await fixture.CreateMigratedDatabaseAsync();
        await SeedProblemsAsync(dbs, "Measles", "Mumps");
        await using var server = await ScriptedChatServer.StartAsync(_ => ScriptedReply.Text(Cot("x")).After(TimeSpan.FromSeconds(30)));
        using var llms = Registry(server);
        var client = new RecordingJobClient();
        var jobs = new SearchJobs(dbs, llms, client, NullLogger<SearchJobs>.Instance) { CancellationPollInterval = TimeSpan.FromMilliseconds(100) };
        var runId = await jobs.StartRunAsync(new SearchRunParameters { Verifier = "rule" });
        var first = client.Jobs.First().Args.ToArray();

        var running = jobs.SearchProblemAsync(runId, (long)first[1]!, null, CancellationToken.None);
        // Cancelled once the item waits on its first LLM answer (a fixed 300 ms could cancel before it asked anything).
        await Eventually.TrueAsync(() => server.CurrentConcurrentRequests > 0 || running.IsCompleted, TimeSpan.FromSeconds(30),
            "the item to ask its first LLM question", TimeSpan.FromMilliseconds(20));
        Assert.Equal(1, server.CurrentConcurrentRequests);
        await jobs.CancelRunAsync(runId);
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await running;
        // Well before the 30 s answer: the item stopped waiting for it.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(20), $"the item took {stopwatch.Elapsed} to stop");
        await RunRecordedJobsAsync(client, jobs); // the other items see the flag and do nothing

        await using var db = await dbs.CreateDbContextAsync();
        var run = await db.PipelineRuns.SingleAsync(r => r.Id == runId);
        Assert.Equal((RunStatus.Cancelled, 0), (run.Status, run.ItemsDone));
        Assert.All(await db.VerifiableProblems.ToListAsync(), p => Assert.Equal(ProblemStatus.Accepted, p.Status));
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task HangfireServerRunsTheItemJobsOnTheSearchQueue()
    {
        // Hangfire keeps its log provider in a static; a host test before this one leaves it pointing at a disposed
        // ILoggerFactory. Reset it: this test runs the Hangfire server by hand.
        Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
        var (connectionString, dbs) = await fixture.CreateMigratedDatabaseAsync();
        await SeedProblemsAsync(dbs, "Measles", "Mumps", "Rubella");
        await using var server = await ScriptedChatServer.StartAsync(Answer);
        using var llms = Registry(server);

        var storage = new PostgreSqlStorage(new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory(connectionString, new PostgreSqlStorageOptions()),
            new PostgreSqlStorageOptions { SchemaName = "hangfire", PrepareSchemaIfNecessary = true, QueuePollInterval = TimeSpan.FromMilliseconds(200) });
        var client = new BackgroundJobClient(storage);
        var activator = new SingleJobActivator(new SearchJobs(dbs, llms, client, NullLogger<SearchJobs>.Instance));
        using var hangfire = new BackgroundJobServer(new BackgroundJobServerOptions
        {
            Queues = [Data.Jobs.HuatuoJobStorage.Queues.Search], WorkerCount = 4, Activator = activator, SchedulePollingInterval = TimeSpan.FromMilliseconds(500),
        }, storage);

        var runId = await new SearchJobs(dbs, llms, client, NullLogger<SearchJobs>.Instance).StartRunAsync(new SearchRunParameters { Verifier = "rule" });
        var run = await Eventually.ReachesAsync(async () =>
        {
            await using var db = await dbs.CreateDbContextAsync();
            return await db.PipelineRuns.AsNoTracking().SingleAsync(r => r.Id == runId);
        }, r => r.Status != RunStatus.Running, TimeSpan.FromSeconds(60), $"search run {runId} to end on the Hangfire server");

        Assert.Equal((RunStatus.Succeeded, 3, 3), (run.Status, run.ItemsDone, run.ItemsSucceeded));
        await using var check = await dbs.CreateDbContextAsync();
        Assert.Equal(3, await check.ReasoningTrajectories.CountAsync(t => t.Status == TrajectoryStatus.Succeeded));
    }

    private sealed class SingleJobActivator(SearchJobs jobs) : JobActivator
    {
        public override object ActivateJob(Type jobType) => jobType == typeof(SearchJobs) ? jobs : base.ActivateJob(jobType);
    }
}
