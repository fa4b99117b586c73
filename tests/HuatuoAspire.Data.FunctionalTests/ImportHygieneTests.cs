using System.Text;
using System.Text.Json.Nodes;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Data.Import;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Data.FunctionalTests;

/// <summary>Issue 12 item 6: an import keeps no replaced bytes, no half rows and no empty dataset.</summary>
[Collection(InfrastructureCollection.Name)]
public sealed class ImportHygieneTests(InfrastructureFixture infra)
{
    private const string GoodMedQa = """{"question": "Which vitamin deficiency causes scurvy?", "options": {"A": "Vitamin A", "B": "Vitamin C"}, "answer_idx": "B", "answer": "Vitamin C"}""";

    private string WriteFile(string name, byte[] content)
    {
        var path = Path.Combine(infra.NewFolder("import-hygiene"), name);
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>"Quel état" as Latin-1 writes it: "é" is the one byte 0xE9, which is not UTF-8.</summary>
    private static byte[] Latin1(string before, string after) =>
        [.. Encoding.UTF8.GetBytes(before), 0xE9, .. Encoding.UTF8.GetBytes(after)];

    [Fact]
    public async Task AJsonLinesRowThatIsNotUtf8IsRefusedWithItsLineAndColumnAndNothingReplacedIsStored()
    {
        var factory = await infra.CreateMigratedDatabaseAsync("utf8_lines");
        const string before = """{"question": "Quel """;
        byte[] content =
        [
            .. Encoding.UTF8.GetBytes(GoodMedQa + "\n"),
            .. Latin1(before, """tat de choc?", "options": {"A": "x", "B": "y"}, "answer_idx": "A", "answer": "x"}""" + "\n"),
        ];
        var report = await new DatasetImporter(factory).ImportAsync(WriteFile("latin1.jsonl", content), new ImportOptions());

        Assert.Equal(ImportRunStatus.CompletedWithSkips, report.Run.Status);
        var error = Assert.Single(report.Run.Errors);
        Assert.Equal(2, error.Line);
        Assert.Equal($"invalid UTF-8 at column {before.Length + 1} (byte 0xE9); save the file as UTF-8", error.Reason);
        await using var db = await factory.CreateDbContextAsync();
        Assert.Equal(["Which vitamin deficiency causes scurvy?"], await db.ExamQuestions.Select(q => q.Question).ToListAsync());
    }

    [Fact]
    public async Task AJsonArrayElementThatIsNotUtf8IsRefusedAtTheLineOfTheBadByte()
    {
        var factory = await infra.CreateMigratedDatabaseAsync("utf8_array");
        const string before = """  "question": "Quel """;
        byte[] content =
        [
            .. Encoding.UTF8.GetBytes("[\n" + GoodMedQa + ",\n{\n" + """  "options": {"A": "x", "B": "y"}, "answer_idx": "A", "answer": "x",""" + "\n"),
            .. Latin1(before, "tat de choc?\"\n}\n]\n"), // the bad byte is on line 5 of an element that starts on line 3
        ];
        var report = await new DatasetImporter(factory).ImportAsync(WriteFile("latin1.json", content), new ImportOptions());

        Assert.Equal(ImportFormat.MedQa, report.Run.Format);
        var error = Assert.Single(report.Run.Errors);
        Assert.Equal(5, error.Line);
        Assert.Equal($"invalid UTF-8 at column {before.Length + 1} (byte 0xE9); save the file as UTF-8", error.Reason);
        Assert.Equal(1, report.Run.QuestionsImported);
    }

    [Fact]
    public async Task ADemoRowWithoutItsQuestionIsRefusedWithItsLine()
    {
        var factory = await infra.CreateMigratedDatabaseAsync("demo_no_question");
        var records = JsonNode.Parse(File.ReadAllText(SharedData.DemoFile))!.AsArray();
        var first = records[0]!.DeepClone().AsObject();
        var second = records[1]!.DeepClone().AsObject();
        second.Remove("question");
        var lines = first.ToJsonString() + "\n" + second.ToJsonString() + "\n";
        var report = await new DatasetImporter(factory).ImportAsync(WriteFile("demo.jsonl", Encoding.UTF8.GetBytes(lines)), new ImportOptions());

        Assert.Equal(ImportFormat.Demo, report.Run.Format);
        var error = Assert.Single(report.Run.Errors);
        Assert.Equal("demo.jsonl:2: missing field 'question'", error.ToString());
        await using var db = await factory.CreateDbContextAsync();
        Assert.Equal((1, 1), (await db.ExamQuestions.CountAsync(), await db.VerifiableProblems.CountAsync()));
    }

    [Fact]
    public async Task AProblemOnlyDemoRowWithNoMultipleChoiceFieldsIsStillImported()
    {
        var factory = await infra.CreateMigratedDatabaseAsync("demo_problem_only");
        const string row = """{"Open-ended Verifiable Question": "Which vitamin deficiency causes scurvy?", "Ground-True Answer": "Vitamin C"}""";
        var report = await new DatasetImporter(factory).ImportAsync(WriteFile("problems.jsonl", Encoding.UTF8.GetBytes(row + "\n")), new ImportOptions());

        Assert.Equal(ImportRunStatus.Completed, report.Run.Status);
        Assert.Equal((0, 1), (report.Run.QuestionsImported, report.Run.ProblemsImported));
    }

    [Fact]
    public async Task AStrictImportIntoANewDatasetThatKeepsNothingLeavesNoDatasetBehind()
    {
        var factory = await infra.CreateMigratedDatabaseAsync("strict_new");
        var content = Encoding.UTF8.GetBytes(GoodMedQa + "\n" + """{"question": "Which one?", "options": {"A": "x", "B": "y"}, "answer_idx": "F"}""" + "\n");
        var report = await new DatasetImporter(factory).ImportAsync(WriteFile("bad.jsonl", content),
            new ImportOptions { DatasetName = "fresh", Strict = true });

        Assert.Equal(ImportRunStatus.RolledBack, report.Run.Status);
        Assert.Equal(2, Assert.Single(report.Run.Errors).Line);
        await using var db = await factory.CreateDbContextAsync();
        Assert.Empty(await db.Datasets.ToListAsync());
        Assert.Empty(await db.ImportRuns.ToListAsync());
        Assert.Equal(0, await db.ExamQuestions.CountAsync());

        // The same file fixed goes into a dataset of that name, recorded with its run.
        var fixedReport = await new DatasetImporter(factory).ImportAsync(WriteFile("good.jsonl", Encoding.UTF8.GetBytes(GoodMedQa + "\n")),
            new ImportOptions { DatasetName = "fresh", Strict = true });
        Assert.Equal(ImportRunStatus.Completed, fixedReport.Run.Status);
        Assert.Equal("fresh", (await db.Datasets.SingleAsync()).Name);
        Assert.Equal(ImportRunStatus.Completed, (await db.ImportRuns.SingleAsync()).Status);
    }
}
