using HuatuoAspire.Data.Entities;
using HuatuoAspire.Data.Import;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Data.FunctionalTests;

[Collection(InfrastructureCollection.Name)]
public sealed class ImportTests(InfrastructureFixture infra)
{
    private async Task<(DatasetImporter Importer, IDbContextFactory<HuatuoDbContext> Db)> FreshAsync(string name)
    {
        var db = await infra.CreateMigratedDatabaseAsync(name);
        return (new DatasetImporter(db), db);
    }

    private string WriteFile(string name, string content)
    {
        var path = Path.Combine(infra.NewFolder("import"), name);
        File.WriteAllText(path, content);
        return path;
    }

    private static async Task<(int Questions, int Problems, int Trajectories)> CountsAsync(IDbContextFactory<HuatuoDbContext> factory)
    {
        await using var db = await factory.CreateDbContextAsync();
        return (await db.ExamQuestions.CountAsync(), await db.VerifiableProblems.CountAsync(), await db.ReasoningTrajectories.CountAsync());
    }

    [Fact]
    public async Task ImportingTheDemoFileStoresEveryQuestionProblemAndSftRecord()
    {
        var (importer, factory) = await FreshAsync("demo");
        var report = await importer.ImportAsync(SharedData.DemoFile, new ImportOptions { DatasetName = "demo" });

        Assert.Equal(ImportRunStatus.Completed, report.Run.Status);
        Assert.Equal(ImportFormat.Demo, report.Run.Format);
        Assert.Equal(198, report.Run.RowsRead);
        Assert.Equal(0, report.Run.RowsSkipped);
        Assert.Equal((198, 198, 198), (report.Run.QuestionsImported, report.Run.ProblemsImported, report.Run.TrajectoriesImported));
        Assert.Equal((198, 198, 198), await CountsAsync(factory));

        await using var db = await factory.CreateDbContextAsync();
        // The first record of the file, followed through question → problem → trajectory.
        var problem = await db.VerifiableProblems.Include(p => p.ExamQuestion).Include(p => p.Trajectories)
            .SingleAsync(p => p.GroundTruthAnswer == "Parvovirus B19 infection" && p.OpenEndedQuestion.StartsWith("A 45-year-old homeless man"));
        Assert.Equal(ProblemStatus.Solved, problem.Status);
        Assert.Equal("D", problem.ExamQuestion!.AnswerIdx);
        Assert.Equal(["A", "B", "C", "D", "E"], problem.ExamQuestion.Options.Keys.Order());
        Assert.Equal("Folate deficiency", problem.ExamQuestion.Options["B"]);
        Assert.Contains("100°F (37.8°C)", problem.ExamQuestion.Question);
        var trajectory = Assert.Single(problem.Trajectories);
        Assert.StartsWith("Alright, let's start by looking at the basics here.", trajectory.ComplexCot);
        Assert.Equal(problem.OpenEndedQuestion, trajectory.Question);
        Assert.Equal(22, (await db.ExamQuestions.ToListAsync()).Count(q => q.Options.Count == 5));
    }

    [Fact]
    public async Task ReimportingTheSameFileChangesNothing()
    {
        var (importer, factory) = await FreshAsync("reimport");
        await importer.ImportAsync(SharedData.DemoFile, new ImportOptions { DatasetName = "demo" });

        var again = await importer.ImportAsync(SharedData.DemoFile, new ImportOptions { DatasetName = "demo" });
        Assert.Equal(ImportRunStatus.AlreadyImported, again.Run.Status);
        Assert.True(again.Succeeded);
        Assert.Equal((198, 198, 198), await CountsAsync(factory));

        // The same rows in another file (different bytes, same content) are recognised row by row.
        var lines = System.Text.Json.JsonDocument.Parse(File.ReadAllText(SharedData.DemoFile)).RootElement
            .EnumerateArray().Select(e => e.GetRawText().Replace("\n", " ")).ToList();
        var copy = WriteFile("demo-copy.jsonl", string.Join("\n", lines) + "\n");
        var rows = await importer.ImportAsync(copy, new ImportOptions { DatasetName = "demo" });
        Assert.Equal(ImportRunStatus.Completed, rows.Run.Status);
        Assert.Equal(198, rows.Run.RowsAlreadyPresent);
        Assert.Equal((0, 0, 0), (rows.Run.QuestionsImported, rows.Run.ProblemsImported, rows.Run.TrajectoriesImported));
        Assert.Equal((198, 198, 198), await CountsAsync(factory));

        await using var db = await factory.CreateDbContextAsync();
        Assert.Equal(3, await db.ImportRuns.CountAsync());
        Assert.Equal(1, await db.Datasets.CountAsync());
    }

    private const string GoodMedQa1 = """{"question": "Which vitamin deficiency causes scurvy?", "options": {"A": "Vitamin A", "B": "Vitamin C", "C": "Vitamin D", "D": "Vitamin K"}, "answer_idx": "B", "answer": "Vitamin C", "meta_info": "step1"}""";
    private const string GoodMedQa2 = """{"question": "Which organ secretes insulin?", "options": {"A": "Liver", "B": "Spleen", "C": "Pancreas", "D": "Kidney"}, "answer_idx": "C", "answer": "Pancreas", "meta_info": "step1"}""";

    private static string MalformedMedQaLines() => string.Join("\n",
        GoodMedQa1,                                                                                          // line 1
        """{"question": "Broken JSON", "options": {"A": "x", "B": "y"}, "answer_idx": "A" """,               // line 2: not closed
        """{"options": {"A": "x", "B": "y"}, "answer_idx": "A", "answer": "x"}""",                             // line 3: no question
        """{"question": "Which one?", "options": {"A": "x", "B": "y"}, "answer_idx": "F", "answer": "x"}""",  // line 4: F is no option
        "",                                                                                                  // line 5: blank, ignored
        """{"question": "   ", "options": {"A": "x", "B": "y"}, "answer_idx": "A", "answer": "x"}""",         // line 6: empty question
        GoodMedQa2) + "\n";                                                                                  // line 7

    [Fact]
    public async Task MalformedRowsAreReportedWithFileLineAndReasonAndSkipped()
    {
        var (importer, factory) = await FreshAsync("malformed");
        var path = WriteFile("medqa-bad.jsonl", MalformedMedQaLines());
        var report = await importer.ImportAsync(path, new ImportOptions());

        Assert.Equal(ImportRunStatus.CompletedWithSkips, report.Run.Status);
        Assert.Equal(ImportFormat.MedQa, report.Run.Format);
        Assert.Equal(6, report.Run.RowsRead);
        Assert.Equal(4, report.Run.RowsSkipped);
        Assert.Equal(2, report.Run.QuestionsImported);
        Assert.Equal([2, 3, 4, 6], report.Run.Errors.Select(e => e.Line));
        Assert.All(report.Run.Errors, e => Assert.Equal("medqa-bad.jsonl", e.File));
        Assert.StartsWith("invalid JSON", report.Run.Errors[0].Reason);
        Assert.Equal("missing field 'question'", report.Run.Errors[1].Reason);
        Assert.Equal("answer_idx 'F' is not one of the options (A, B)", report.Run.Errors[2].Reason);
        Assert.Equal("field 'question' is empty", report.Run.Errors[3].Reason);
        Assert.Equal("medqa-bad.jsonl:4: answer_idx 'F' is not one of the options (A, B)", report.Run.Errors[2].ToString());
        Assert.Equal((2, 0, 0), await CountsAsync(factory));

        // The errors are kept with the run, for `huatuo status` and the dashboard.
        await using var db = await factory.CreateDbContextAsync();
        var stored = await db.ImportRuns.SingleAsync();
        Assert.Equal([2, 3, 4, 6], stored.Errors.Select(e => e.Line));
        var meta = (await db.ExamQuestions.FirstAsync()).Meta;
        using var metaJson = System.Text.Json.JsonDocument.Parse(meta!);
        Assert.Equal("step1", metaJson.RootElement.GetProperty("meta_info").GetString());
    }

    [Fact]
    public async Task StrictImportRollsBackEverythingWhenOneRowIsMalformed()
    {
        var (importer, factory) = await FreshAsync("strict");
        var good = WriteFile("good.jsonl", GoodMedQa1 + "\n");
        await importer.ImportAsync(good, new ImportOptions { DatasetName = "medqa" });

        var path = WriteFile("medqa-bad.jsonl", MalformedMedQaLines());
        var report = await importer.ImportAsync(path, new ImportOptions { DatasetName = "medqa", Strict = true });

        Assert.Equal(ImportRunStatus.RolledBack, report.Run.Status);
        Assert.False(report.Succeeded);
        Assert.Equal(4, report.Run.RowsSkipped);
        Assert.Equal([2, 3, 4, 6], report.Run.Errors.Select(e => e.Line)); // every error is reported, not only the first
        Assert.Equal(0, report.Run.QuestionsImported);
        Assert.Equal((1, 0, 0), await CountsAsync(factory)); // GoodMedQa2 (line 7) was not kept

        // After fixing the file, the same import goes through.
        File.WriteAllText(path, GoodMedQa1 + "\n" + GoodMedQa2 + "\n");
        var fixedReport = await importer.ImportAsync(path, new ImportOptions { DatasetName = "medqa", Strict = true });
        Assert.Equal(ImportRunStatus.Completed, fixedReport.Run.Status);
        Assert.Equal((1, 1), (fixedReport.Run.QuestionsImported, fixedReport.Run.RowsAlreadyPresent));
        Assert.Equal((2, 0, 0), await CountsAsync(factory));
    }

    [Fact]
    public async Task MalformedArrayElementsAreReportedAtTheLineWhereTheElementStarts()
    {
        var (importer, factory) = await FreshAsync("array");
        var json = """
            [
              {
                "Question": "What is the first-line treatment of anaphylaxis?",
                "Complex_CoT": "Anaphylaxis is a life-threatening reaction...",
                "Response": "Intramuscular epinephrine."
              },
              {
                "Question": "What causes pellagra?",
                "Complex_CoT": "Pellagra: dermatitis, diarrhea, dementia..."
              },
              {
                "Question": "Which nerve is injured in wrist drop?",
                "Complex_CoT": "Wrist drop means the extensors are weak...",
                "Response": "The radial nerve."
              }
            ]
            """;
        var report = await importer.ImportAsync(WriteFile("sft.json", json), new ImportOptions());

        Assert.Equal(ImportFormat.Sft, report.Run.Format);
        var error = Assert.Single(report.Run.Errors);
        Assert.Equal(7, error.Line);
        Assert.Equal("missing field 'Response'", error.Reason);
        Assert.Equal((0, 0, 2), await CountsAsync(factory));
    }

    [Fact]
    public async Task ABrokenJsonArrayImportsNothingAndSaysWhere()
    {
        var (importer, factory) = await FreshAsync("brokenarray");
        var json = "[\n" + GoodMedQa1 + ",\n" + GoodMedQa2 + ",\n{\"question\": \"unterminated\n]\n";
        var report = await importer.ImportAsync(WriteFile("broken.json", json), new ImportOptions());

        Assert.Equal(ImportRunStatus.Failed, report.Run.Status);
        var error = Assert.Single(report.Run.Errors);
        Assert.Equal(4, error.Line);
        Assert.StartsWith("invalid JSON", error.Reason);
        Assert.Equal((0, 0, 0), await CountsAsync(factory));
    }

    [Fact]
    public async Task MedMcqaRecordsMapCopToTheOptionLetterWithTheChosenBase()
    {
        var (importer, factory) = await FreshAsync("medmcqa");
        // Hugging Face export: cop 0..3 → opa..opd.
        var hf = WriteFile("medmcqa-hf.jsonl",
            """{"id": "q1", "question": "Which of the following is not a branch of the external carotid artery?", "opa": "Superior thyroid", "opb": "Ascending pharyngeal", "opc": "Ophthalmic", "opd": "Facial", "cop": 2, "choice_type": "single", "exp": "The ophthalmic artery arises from the internal carotid.", "subject_name": "Anatomy", "topic_name": "Head and neck"}""" + "\n"
            + """{"id": "q2", "question": "Unlabelled test row", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": -1}""" + "\n");
        var report = await importer.ImportAsync(hf, new ImportOptions { DatasetName = "medmcqa" });
        Assert.Equal(ImportFormat.MedMcqa, report.Run.Format);
        Assert.Equal(1, report.Run.QuestionsImported);
        Assert.Equal("cop -1 is outside 0..3", Assert.Single(report.Run.Errors).Reason);

        // The original release files count from 1.
        var original = WriteFile("medmcqa-dev.json",
            """{"id": "q3", "question": "Drug of choice for absence seizures?", "opa": "Phenytoin", "opb": "Ethosuximide", "opc": "Carbamazepine", "opd": "Phenobarbital", "cop": 2, "subject_name": "Pharmacology"}""" + "\n"
            + """{"id": "q4", "question": "Vitamin deficient in Wernicke encephalopathy?", "opa": "B12", "opb": "B6", "opc": "B3", "opd": "B1", "cop": 4}""" + "\n");
        var one = await importer.ImportAsync(original, new ImportOptions { DatasetName = "medmcqa", CopBase = CopBase.One });
        Assert.Equal(ImportRunStatus.Completed, one.Run.Status);

        await using var db = await factory.CreateDbContextAsync();
        var questions = await db.ExamQuestions.OrderBy(q => q.Id).ToListAsync();
        Assert.Equal(["C", "B", "D"], questions.Select(q => q.AnswerIdx));
        Assert.Equal(["Ophthalmic", "Ethosuximide", "B1"], questions.Select(q => q.Answer));
        using var meta = System.Text.Json.JsonDocument.Parse(questions[0].Meta!);
        Assert.Equal("Anatomy", meta.RootElement.GetProperty("subject_name").GetString());
        Assert.Equal("q1", meta.RootElement.GetProperty("id").GetString());

        // cop 4 under the 0-based convention is refused with a hint, not silently wrapped.
        var wrongBase = await importer.ImportAsync(original, new ImportOptions { DatasetName = "other" });
        Assert.Contains(wrongBase.Run.Errors, e => e.Line == 2 && e.Reason.Contains("use --cop-base 1"));
    }

    [Fact]
    public async Task AnExplicitFormatOverridesDetection()
    {
        var (importer, factory) = await FreshAsync("override");
        var report = await importer.ImportAsync(SharedData.DemoFile, new ImportOptions { Format = ImportFormat.MedQa });
        Assert.Equal(ImportFormat.MedQa, report.Run.Format);
        Assert.Equal((198, 0, 0), await CountsAsync(factory));

        var sft = await importer.ImportAsync(SharedData.DemoFile, new ImportOptions { Format = ImportFormat.Sft, DatasetName = "sft-only" });
        Assert.Equal(198, sft.Run.TrajectoriesImported);
        Assert.Equal((198, 0, 198), await CountsAsync(factory));
    }

    [Fact]
    public async Task AFileOfNoKnownFormatIsRefusedRowByRow()
    {
        var (importer, factory) = await FreshAsync("unknown");
        var report = await importer.ImportAsync(WriteFile("other.jsonl", """{"title": "not a question"}""" + "\n"), new ImportOptions());
        Assert.Equal(ImportRunStatus.CompletedWithSkips, report.Run.Status);
        Assert.Contains("pass --format", Assert.Single(report.Run.Errors).Reason);
        Assert.Equal((0, 0, 0), await CountsAsync(factory));
    }

    [Fact]
    public async Task DuplicateRowsWithinAFileAreStoredOnceAcrossBatchBoundaries()
    {
        var (importer, factory) = await FreshAsync("duplicates");
        var rows = Enumerable.Range(0, 8).Select(i =>
            $$"""{"Question": "Question {{i}}?", "Complex_CoT": "Thinking about {{i}}.", "Response": "Answer {{i}}."}""").ToList();
        rows.Insert(2, rows[0]); // same batch as the original (batch size 4)
        rows.Insert(9, rows[1]); // a later batch than the original
        var report = await importer.ImportAsync(WriteFile("dups.jsonl", string.Join("\n", rows)), new ImportOptions { BatchSize = 4 });

        Assert.Equal(10, report.Run.RowsRead);
        Assert.Equal(8, report.Run.TrajectoriesImported);
        Assert.Equal(2, report.Run.RowsAlreadyPresent);
        Assert.Equal((0, 0, 8), await CountsAsync(factory));
    }
}
