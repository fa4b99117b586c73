using System.Collections.Concurrent;
using System.Text.Json;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.ScriptedLlm;
using HuatuoAspire.Workers.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;

namespace HuatuoAspire.Workers.FunctionalTests;

[Collection(PostgresCollection.Name)]
public sealed class ConstructionJobsTests(InfrastructureFixture fixture)
{
    /// <summary>Filter says Pass unless the question mentions "simple"; the rewrite keeps the answer.</summary>
    private static ScriptedReply Answer(RecordedRequest request)
    {
        var prompt = request.Messages.First(m => m.Role == "user").Content;
        if (prompt.StartsWith("<Multiple-choice Question>", StringComparison.Ordinal))
            return ScriptedReply.Text(prompt.Contains("simple", StringComparison.Ordinal) ? "{\"verdict\": \"Too Simple\"}" : "{\"verdict\": \"Pass\"}");
        var answer = prompt.Split("Correct Answer: ")[1].Split('\n')[0];
        return ScriptedReply.Text(JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["Open-ended Verifiable Question"] = "Open: " + prompt.Split("<Multiple-choice Question>")[1].Trim()[..30],
            ["Ground-True Answer"] = answer,
        }));
    }

    internal static async Task SeedQuestionsAsync(IDbContextFactory<HuatuoDbContext> dbs, params string[] questions)
    {
        await using var db = await dbs.CreateDbContextAsync();
        var dataset = new Dataset { Name = $"mcq-{Guid.NewGuid():N}" };
        db.Datasets.Add(dataset);
        db.ExamQuestions.AddRange(questions.Select((text, i) => new ExamQuestion
        {
            Dataset = dataset,
            Question = text,
            Options = new Dictionary<string, string> { ["A"] = "Chloroquine", ["B"] = "Primaquine", ["C"] = "Artesunate" },
            AnswerIdx = "B",
            Answer = "Primaquine",
            Source = "test",
            ContentSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text + i))),
        }));
        await db.SaveChangesAsync();
    }

    [Fact]
    public async Task ConstructionStoresAcceptedAndRejectedProblemsWithTheirVerdictsOnce()
    {
        var (_, dbs) = await fixture.CreateMigratedDatabaseAsync();
        await SeedQuestionsAsync(dbs,
            "A traveller back from Kenya has vivax malaria on smear. Which drug clears the dormant liver stage?",
            "This simple question asks which drug is used against the liver stage of malaria parasites?",
            "Liver stage drug?");
        await using var server = await ScriptedChatServer.StartAsync(Answer);
        using var llms = new LlmEndpointRegistry([new LlmEndpointOptions { Name = "inference", BaseUrl = server.BaseUri, Model = "m", MaxRetries = 0 }]);
        var client = new RecordingJobClient();
        var jobs = new ConstructionJobs(dbs, llms, client, NullLogger<ConstructionJobs>.Instance);

        var runId = await jobs.StartRunAsync(new ConstructionRunParameters());
        var items = client.Jobs.Select(j => j.Args.ToArray()).ToList();
        Assert.Equal(3, items.Count);
        // Every item delivered twice, concurrently: still one problem per question.
        await Task.WhenAll(items.Concat(items).Select(args => jobs.ConstructQuestionAsync(runId, (long)args[1]!, null, CancellationToken.None)));

        await using var db = await dbs.CreateDbContextAsync();
        var problems = await db.VerifiableProblems.OrderBy(p => p.ExamQuestionId).ToListAsync();
        Assert.Equal(3, problems.Count);
        Assert.Equal([ProblemStatus.Accepted, ProblemStatus.Rejected, ProblemStatus.Rejected], problems.Select(p => p.Status));
        Assert.Equal("Primaquine", problems[0].GroundTruthAnswer);
        Assert.Equal(["llm-filter", "reformulate"], problems[0].StageExchanges.Select(e => e.Stage));
        Assert.Equal(LlmFilterVerdict.TooSimple, problems[1].LlmFilterVerdict);
        Assert.Contains("Too Simple", problems[1].StageExchanges.Single(e => e.Stage == "rejected").RawAnswer);
        Assert.Contains("fewer than the minimum", problems[2].StageExchanges.Single().RawAnswer);

        var run = await db.PipelineRuns.SingleAsync(r => r.Id == runId);
        // A filter's rejection is the item's outcome, not a failure.
        Assert.Equal((RunStatus.Succeeded, 3, 3, 0), (run.Status, run.ItemsDone, run.ItemsSucceeded, run.ItemsFailed));

        // A second run finds nothing left to construct; the accepted problem goes on to search.
        var again = await jobs.StartRunAsync(new ConstructionRunParameters());
        var nothing = await db.PipelineRuns.AsNoTracking().SingleAsync(r => r.Id == again);
        Assert.Equal((RunStatus.NothingToDo, "No exam question without a problem: import questions first."), (nothing.Status, nothing.Error));
        Assert.Equal(3, client.Jobs.Count);
    }
}
