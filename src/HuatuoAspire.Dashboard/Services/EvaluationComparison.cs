using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Evaluation;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>One run's answer to a compared question.</summary>
public sealed record ComparedAnswer(string? Letter, bool Correct, bool Failed);

/// <summary>A question the compared runs answered differently (a different letter, or none), with each run's answer.</summary>
public sealed record Disagreement(string Benchmark, string QuestionKey, string Question, string AnswerIdx, IReadOnlyList<ComparedAnswer?> Answers)
{
    /// <summary>Some run was right and another wrong: the disagreements that move the accuracy.</summary>
    public bool CorrectnessDiffers => Answers.Any(a => a?.Correct == true) && Answers.Any(a => a?.Correct != true);
}

/// <summary>A compared run: its pipeline-run id, the model asked and its scores per benchmark.</summary>
public sealed record ComparedRun(long Id, string Model, IReadOnlyDictionary<string, BenchmarkScore> Scores);

/// <summary>
/// Two or more evaluation runs side by side: per benchmark each run's accuracy with its 95% CI, and the questions they
/// answered differently. Questions are matched by benchmark and question text, so runs over the same questions from
/// different files (or in another order) compare; a question only some runs asked shows no answer for the others.
/// </summary>
public sealed record EvaluationComparison(IReadOnlyList<ComparedRun> Runs, IReadOnlyList<string> Benchmarks,
    IReadOnlyList<Disagreement> Disagreements, IReadOnlyList<long> Missing)
{
    public static async Task<EvaluationComparison> LoadAsync(HuatuoDbContext db, IReadOnlyList<long> ids, CancellationToken ct)
    {
        var found = await db.PipelineRuns.AsNoTracking().Where(r => ids.Contains(r.Id) && r.Kind == PipelineRunKind.Evaluation)
            .Select(r => r.Id).ToListAsync(ct);
        var runs = new List<ComparedRun>();
        var answers = new List<Dictionary<(string Benchmark, string Question), AskedQuestion>>();
        foreach (var id in ids.Where(found.Contains).Distinct())
        {
            var model = await db.EvaluationRuns.Where(e => e.PipelineRunId == id).Select(e => e.Model).FirstOrDefaultAsync(ct) ?? "?";
            var scores = await StoredEvaluation.ScoresAsync(db, id, ct);
            runs.Add(new ComparedRun(id, model, scores.ToDictionary(s => s.Benchmark)));
            var rows = await db.EvaluationResults.AsNoTracking().Where(r => r.EvaluationRun!.PipelineRunId == id)
                .Select(r => new { r.EvaluationRun!.Benchmark, r.QuestionKey, r.Question, r.AnswerIdx, r.ExtractedLetter, r.Correct, r.Error })
                .ToListAsync(ct);
            var byQuestion = new Dictionary<(string Benchmark, string Question), AskedQuestion>();
            // Question keys are indexes within the benchmark: the first of two identical questions is compared.
            foreach (var r in rows.OrderBy(r => r.QuestionKey.Length).ThenBy(r => r.QuestionKey, StringComparer.Ordinal))
                byQuestion.TryAdd((r.Benchmark, r.Question), new AskedQuestion(r.QuestionKey, r.AnswerIdx, new ComparedAnswer(r.ExtractedLetter, r.Correct, r.Error is not null)));
            answers.Add(byQuestion);
        }

        var benchmarks = runs.SelectMany(r => r.Scores.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var disagreements = new List<Disagreement>();
        foreach (var question in answers.SelectMany(a => a.Keys).Distinct())
        {
            var each = answers.Select(a => a.GetValueOrDefault(question)).ToList();
            var asked = each.OfType<AskedQuestion>().ToList();
            if (asked.Count < 2 || asked.Select(e => e.Answer.Letter).Distinct().Count() == 1) continue;
            disagreements.Add(new Disagreement(question.Benchmark, asked[0].Key, question.Question, asked[0].AnswerIdx, [.. each.Select(e => e?.Answer)]));
        }
        var ordered = disagreements
            .OrderBy(d => d.Benchmark, StringComparer.Ordinal)
            .ThenBy(d => d.CorrectnessDiffers ? 0 : 1)
            .ThenBy(d => d.QuestionKey.Length).ThenBy(d => d.QuestionKey, StringComparer.Ordinal)
            .ToList();
        return new EvaluationComparison(runs, benchmarks, ordered, [.. ids.Where(id => !found.Contains(id)).Distinct()]);
    }

    private sealed record AskedQuestion(string Key, string AnswerIdx, ComparedAnswer Answer);
}
