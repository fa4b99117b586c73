using HuatuoAspire.Data.Export;
using HuatuoAspire.Data.Import;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Data.FunctionalTests;

[Collection(InfrastructureCollection.Name)]
public sealed class ExportTests(InfrastructureFixture infra)
{
    private static async Task<List<string>> ProblemRowsAsync(IDbContextFactory<HuatuoDbContext> factory)
    {
        await using var db = await factory.CreateDbContextAsync();
        var rows = await db.VerifiableProblems.Include(p => p.ExamQuestion).ToListAsync();
        return rows.Select(p => string.Join("|", p.OpenEndedQuestion, p.GroundTruthAnswer, p.ExamQuestion!.Question,
                string.Join(";", p.ExamQuestion.Options.OrderBy(o => o.Key).Select(o => $"{o.Key}={o.Value}")),
                p.ExamQuestion.AnswerIdx, p.ExamQuestion.Answer))
            .Order(StringComparer.Ordinal).ToList();
    }

    private static async Task<List<string>> SftRowsAsync(IDbContextFactory<HuatuoDbContext> factory)
    {
        await using var db = await factory.CreateDbContextAsync();
        return (await db.ReasoningTrajectories.Select(t => t.Question + "|" + t.ComplexCot + "|" + t.Response).ToListAsync())
            .Order(StringComparer.Ordinal).ToList();
    }

    [Theory]
    [InlineData(ExportFormat.Json)]
    [InlineData(ExportFormat.Jsonl)]
    public async Task ExportedProblemsImportIntoAFreshDatabaseWithTheSameContent(ExportFormat format)
    {
        var source = await infra.CreateMigratedDatabaseAsync("export_src");
        await new DatasetImporter(source).ImportAsync(SharedData.DemoFile, new ImportOptions { DatasetName = "demo" });

        var file = Path.Combine(infra.NewFolder("export"), "problems." + format.ToString().ToLowerInvariant());
        await using (var output = File.Create(file))
        {
            Assert.Equal(198, await new DatasetExporter(source).ExportProblemsAsync(output, format));
        }

        var target = await infra.CreateMigratedDatabaseAsync("export_dst");
        var report = await new DatasetImporter(target).ImportAsync(file, new ImportOptions { Strict = true });
        Assert.Equal(Entities.ImportRunStatus.Completed, report.Run.Status);
        Assert.Equal((198, 198, 0), (report.Run.QuestionsImported, report.Run.ProblemsImported, report.Run.TrajectoriesImported));
        Assert.Equal(await ProblemRowsAsync(source), await ProblemRowsAsync(target));
    }

    [Theory]
    [InlineData(ExportFormat.Json)]
    [InlineData(ExportFormat.Jsonl)]
    public async Task ExportedSftDataImportsIntoAFreshDatabaseWithTheSameContent(ExportFormat format)
    {
        var source = await infra.CreateMigratedDatabaseAsync("sft_src");
        await new DatasetImporter(source).ImportAsync(SharedData.DemoFile, new ImportOptions { DatasetName = "demo" });

        var file = Path.Combine(infra.NewFolder("export"), "sft." + format.ToString().ToLowerInvariant());
        await using (var output = File.Create(file))
        {
            Assert.Equal(198, await new DatasetExporter(source).ExportSftAsync(output, format));
        }
        if (format == ExportFormat.Jsonl) Assert.Equal(198, File.ReadLines(file).Count());

        var target = await infra.CreateMigratedDatabaseAsync("sft_dst");
        var report = await new DatasetImporter(target).ImportAsync(file, new ImportOptions { Strict = true });
        Assert.Equal(Entities.ImportFormat.Sft, report.Run.Format);
        Assert.Equal(198, report.Run.TrajectoriesImported);
        Assert.Equal(await SftRowsAsync(source), await SftRowsAsync(target));
    }

    [Fact]
    public async Task ExportedFilesUseTheReferenceFieldNamesAndKeepNonAsciiText()
    {
        var source = await infra.CreateMigratedDatabaseAsync("export_fields");
        await new DatasetImporter(source).ImportAsync(SharedData.DemoFile, new ImportOptions { DatasetName = "demo" });
        using var output = new MemoryStream();
        await new DatasetExporter(source).ExportProblemsAsync(output, ExportFormat.Jsonl);
        var firstLine = System.Text.Encoding.UTF8.GetString(output.ToArray()).Split('\n')[0];
        using var doc = System.Text.Json.JsonDocument.Parse(firstLine);
        Assert.Equal(["question", "options", "answer_idx", "answer", "Open-ended Verifiable Question", "Ground-True Answer"],
            doc.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Contains("100°F", firstLine); // written as-is, not \u00B0
    }

    [Fact]
    public async Task AProblemWithoutASourceQuestionExportsOnlyTheOpenEndedFieldsAndImportsBack()
    {
        var source = await infra.CreateMigratedDatabaseAsync("export_bare");
        await using (var db = await source.CreateDbContextAsync())
        {
            var dataset = new Entities.Dataset { Name = "constructed" };
            db.VerifiableProblems.Add(new Entities.VerifiableProblem
            {
                Dataset = dataset,
                OpenEndedQuestion = "Which nerve is injured in wrist drop?",
                GroundTruthAnswer = "Radial nerve",
                Status = Entities.ProblemStatus.Accepted,
                ContentSha256 = new string('d', 64),
            });
            db.VerifiableProblems.Add(new Entities.VerifiableProblem
            {
                Dataset = dataset,
                OpenEndedQuestion = "Rejected by the LLM filter",
                GroundTruthAnswer = "x",
                Status = Entities.ProblemStatus.Rejected,
                LlmFilterVerdict = Entities.LlmFilterVerdict.TooSimple,
                ContentSha256 = new string('e', 64),
            });
            await db.SaveChangesAsync();
        }

        var file = Path.Combine(infra.NewFolder("export"), "bare.jsonl");
        await using (var output = File.Create(file))
        {
            Assert.Equal(1, await new DatasetExporter(source).ExportProblemsAsync(output, ExportFormat.Jsonl)); // the rejected one is not exported
        }
        Assert.Equal("""{"Open-ended Verifiable Question":"Which nerve is injured in wrist drop?","Ground-True Answer":"Radial nerve"}""", File.ReadAllLines(file).Single());

        var target = await infra.CreateMigratedDatabaseAsync("export_bare_dst");
        var report = await new DatasetImporter(target).ImportAsync(file, new ImportOptions { Strict = true });
        Assert.Equal((0, 1), (report.Run.QuestionsImported, report.Run.ProblemsImported));
        await using var check = await target.CreateDbContextAsync();
        var problem = await check.VerifiableProblems.SingleAsync();
        Assert.Equal(("Radial nerve", (long?)null, Entities.ProblemStatus.Accepted), (problem.GroundTruthAnswer, problem.ExamQuestionId, problem.Status));
    }
}
