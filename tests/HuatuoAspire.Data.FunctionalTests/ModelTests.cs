using HuatuoAspire.Data.Entities;
using HuatuoAspire.Domain.Search;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Data.FunctionalTests;

[Collection(InfrastructureCollection.Name)]
public sealed class ModelTests(InfrastructureFixture infra)
{
    [Fact]
    public async Task ASearchTrajectoryWithAttemptsStepsAndVerdictsIsStoredAndReadBack()
    {
        var factory = await infra.CreateMigratedDatabaseAsync("model_search");
        long problemId;
        await using (var db = await factory.CreateDbContextAsync())
        {
            var dataset = new Dataset { Name = "constructed" };
            var problem = new VerifiableProblem
            {
                Dataset = dataset,
                OpenEndedQuestion = "Which nerve is injured in wrist drop?",
                GroundTruthAnswer = "Radial nerve",
                Status = ProblemStatus.Accepted,
                LlmFilterVerdict = LlmFilterVerdict.Pass,
                ContentSha256 = new string('a', 64),
                DifficultyResults = [new() { Model = "small-a", Answer = "Ulnar nerve", Correct = false }, new() { Model = "small-b", Answer = "Median", Correct = false }],
                StageExchanges = [new() { Stage = "reformulate", Prompt = "Rewrite as open-ended...", RawAnswer = "{\"Open-ended Verifiable Question\": \"...\"}" }],
            };
            var trajectory = new ReasoningTrajectory
            {
                Problem = problem,
                Question = problem.OpenEndedQuestion,
                Status = TrajectoryStatus.Succeeded,
                ComplexCot = "Wrist drop means the wrist extensors are weak...",
                Response = "The radial nerve.",
                LabelGuided = false,
                Attempts =
                [
                    new SearchAttempt
                    {
                        AttemptIndex = 0,
                        Succeeded = true,
                        Steps =
                        [
                            new SearchStep
                            {
                                StepIndex = 0, Strategy = SearchStrategy.Init, Prompt = "p0", RawOutput = "{\"CoT\": []}", Verdict = VerifierVerdict.Incorrect,
                                ParsedSteps = [new("Inner Thinking", "Anatomy", "The ulnar nerve..."), new("Final Conclusion", null, "Ulnar nerve")],
                            },
                            new SearchStep
                            {
                                StepIndex = 1, Strategy = SearchStrategy.Backtracking, Prompt = "p1", RawOutput = "...", Verdict = VerifierVerdict.Correct,
                                ParsedSteps = [new("Final Conclusion", null, "Radial nerve")],
                            },
                        ],
                    },
                ],
            };
            db.ReasoningTrajectories.Add(trajectory);
            await db.SaveChangesAsync();
            problemId = problem.Id;
        }

        await using (var db = await factory.CreateDbContextAsync())
        {
            var problem = await db.VerifiableProblems
                .Include(p => p.Trajectories).ThenInclude(t => t.Attempts).ThenInclude(a => a.Steps)
                .SingleAsync(p => p.Id == problemId);
            Assert.Equal(["small-a", "small-b"], problem.DifficultyResults.Select(d => d.Model));
            Assert.Equal(LlmFilterVerdict.Pass, problem.LlmFilterVerdict);
            Assert.Equal("reformulate", Assert.Single(problem.StageExchanges).Stage);
            var steps = Assert.Single(Assert.Single(problem.Trajectories).Attempts).Steps.OrderBy(s => s.StepIndex).ToList();
            Assert.Equal([SearchStrategy.Init, SearchStrategy.Backtracking], steps.Select(s => s.Strategy));
            Assert.Equal([VerifierVerdict.Incorrect, VerifierVerdict.Correct], steps.Select(s => s.Verdict!.Value));
            Assert.Equal(["Inner Thinking", "Final Conclusion"], steps[0].ParsedSteps.Select(c => c.Action));
            Assert.Null(steps[0].ParsedSteps[1].Title);
        }

        // Enums are stored as their names.
        await using (var db = await factory.CreateDbContextAsync())
        {
            var strategies = await db.Database.SqlQuery<string>($"SELECT \"Strategy\" AS \"Value\" FROM \"SearchSteps\" ORDER BY \"StepIndex\"").ToListAsync();
            Assert.Equal(["Init", "Backtracking"], strategies);
        }
    }

    [Fact]
    public async Task TwoWorkersUpdatingTheSameProblemCannotBothWin()
    {
        var factory = await infra.CreateMigratedDatabaseAsync("model_xmin");
        long id;
        await using (var db = await factory.CreateDbContextAsync())
        {
            var problem = new VerifiableProblem
            {
                Dataset = new Dataset { Name = "d" }, OpenEndedQuestion = "q", GroundTruthAnswer = "a",
                Status = ProblemStatus.Accepted, ContentSha256 = new string('b', 64),
            };
            db.VerifiableProblems.Add(problem);
            await db.SaveChangesAsync();
            id = problem.Id;
        }

        await using var first = await factory.CreateDbContextAsync();
        await using var second = await factory.CreateDbContextAsync();
        var a = await first.VerifiableProblems.SingleAsync(p => p.Id == id);
        var b = await second.VerifiableProblems.SingleAsync(p => p.Id == id);
        a.Status = ProblemStatus.Searching;
        b.Status = ProblemStatus.Searching;
        await first.SaveChangesAsync();
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => second.SaveChangesAsync());
    }

    [Fact]
    public async Task TrainingMetricsCheckpointsAndEvaluationResultsAreStored()
    {
        var factory = await infra.CreateMigratedDatabaseAsync("model_runs");
        await using (var db = await factory.CreateDbContextAsync())
        {
            var run = new TrainingRun { Kind = TrainingRunKind.Sft, Name = "sft-demo", Config = """{"lr": 5e-6, "epochs": 3}""", Status = RunStatus.Running };
            for (var step = 1; step <= 3; step++)
                run.Metrics.Add(new TrainingMetric { Step = step, Name = "loss", Value = 2.0 / step });
            run.Checkpoints.Add(new Checkpoint { Step = 3, BlobName = "checkpoints/sft-demo/step-3", SizeBytes = 123, Sha256 = new string('c', 64) });
            db.TrainingRuns.Add(run);
            db.EvaluationRuns.Add(new EvaluationRun
            {
                Benchmark = "medqa", Model = "sft-demo", Status = RunStatus.Succeeded, Total = 1, Correct = 1,
                Results = [new() { QuestionKey = "0", Question = "q", Options = new() { ["A"] = "x", ["B"] = "y" }, AnswerIdx = "B", Prompt = "p", Output = "The answer is B.", ExtractedLetter = "B", Correct = true }],
            });
            await db.SaveChangesAsync();
        }

        await using (var db = await factory.CreateDbContextAsync())
        {
            var run = await db.TrainingRuns.Include(r => r.Metrics).Include(r => r.Checkpoints).SingleAsync();
            Assert.Equal([2.0, 1.0, 2.0 / 3], run.Metrics.OrderBy(m => m.Step).Select(m => m.Value));
            Assert.Equal(3, Assert.Single(run.Checkpoints).Step);
            var counts = await PipelineCounts.ReadAsync(db);
            Assert.Equal(1, counts.TrainingRuns);
            Assert.Equal(1, counts.EvaluationRuns);
            Assert.Equal(1, counts.Checkpoints);
            var result = await db.EvaluationResults.SingleAsync();
            Assert.Equal("y", result.Options["B"]);
        }
    }
}
