using System.Security.Cryptography;
using HuatuoAspire.Data.Entities;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Data.Import;

public sealed record ImportOptions
{
    /// <summary>Dataset to import into; default: the file name without extension.</summary>
    public string? DatasetName { get; init; }
    /// <summary>Explicit format; default: detected from the first record's fields.</summary>
    public ImportFormat? Format { get; init; }
    /// <summary>Any malformed row rolls back the whole import.</summary>
    public bool Strict { get; init; }
    public CopBase CopBase { get; init; } = CopBase.Zero;
    /// <summary>Rows per database round trip.</summary>
    public int BatchSize { get; init; } = 500;
}

public sealed record ImportProgress(long BytesRead, long TotalBytes, int RowsRead);

/// <summary>The outcome of one import: the stored <see cref="ImportRun"/> (counts, status, errors).</summary>
public sealed record ImportReport(ImportRun Run, string DatasetName)
{
    public bool Succeeded => Run.Status is ImportRunStatus.Completed or ImportRunStatus.CompletedWithSkips or ImportRunStatus.AlreadyImported;
}

/// <summary>
/// Imports a reference-format file into a dataset: streamed record by record, validated, de-duplicated by content
/// hash, written in batches inside ONE transaction. Malformed rows are recorded with file, line and reason and
/// skipped, or (strict) the transaction is rolled back so nothing of the file is kept. The import run itself is
/// recorded outside that transaction, so a rolled-back run still shows what was wrong.
/// </summary>
public sealed class DatasetImporter(IDbContextFactory<HuatuoDbContext> contexts)
{
    public async Task<ImportReport> ImportAsync(string path, ImportOptions options, IProgress<ImportProgress>? progress = null, CancellationToken ct = default)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Import file not found: {path}", path);
        var fileName = Path.GetFileName(path);
        var datasetName = string.IsNullOrWhiteSpace(options.DatasetName) ? Path.GetFileNameWithoutExtension(path) : options.DatasetName.Trim();
        var fileHash = await HashFileAsync(path, ct);

        await using var bookkeeping = await contexts.CreateDbContextAsync(ct);
        var dataset = await bookkeeping.Datasets.FirstOrDefaultAsync(d => d.Name == datasetName, ct);
        var run = new ImportRun
        {
            DatasetId = dataset?.Id ?? 0,
            FileName = fileName,
            FileSha256 = fileHash,
            Format = options.Format ?? ImportFormat.Demo,
            Strict = options.Strict,
            Status = ImportRunStatus.Running,
        };
        if (dataset is null)
        {
            // A new dataset, its rows and the run's record are one transaction: an import that keeps nothing leaves
            // no empty dataset behind (its errors are in the report).
            await ImportRowsAsync(path, fileName, datasetName, run, options, progress, ct);
            return new ImportReport(run, datasetName);
        }

        var previous = await bookkeeping.ImportRuns.AsNoTracking()
            .Where(r => r.DatasetId == dataset.Id && r.FileSha256 == fileHash
                        && (r.Status == ImportRunStatus.Completed || r.Status == ImportRunStatus.CompletedWithSkips))
            .OrderByDescending(r => r.Id).FirstOrDefaultAsync(ct);
        if (previous is not null)
        {
            // Same bytes already imported into this dataset: nothing to do, but say so in the history.
            run.Format = previous.Format;
            run.Status = ImportRunStatus.AlreadyImported;
            run.FinishedAt = DateTime.UtcNow;
            bookkeeping.ImportRuns.Add(run);
            await bookkeeping.SaveChangesAsync(ct);
            return new ImportReport(run, datasetName);
        }

        // Into an existing dataset the run is recorded outside the rows' transaction, so a rolled-back run still shows
        // in the dataset's history what was wrong.
        bookkeeping.ImportRuns.Add(run);
        await bookkeeping.SaveChangesAsync(ct);

        try
        {
            await ImportRowsAsync(path, fileName, newDatasetName: null, run, options, progress, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            run.Status = ImportRunStatus.Failed;
            AddError(run, new ImportRowError { File = fileName, Line = 0, Reason = $"import failed: {ex.Message}" });
            run.FinishedAt = DateTime.UtcNow;
            await bookkeeping.SaveChangesAsync(CancellationToken.None);
            throw;
        }
        catch (OperationCanceledException)
        {
            run.Status = ImportRunStatus.Failed;
            AddError(run, new ImportRowError { File = fileName, Line = 0, Reason = "import cancelled; nothing was kept" });
            run.FinishedAt = DateTime.UtcNow;
            await bookkeeping.SaveChangesAsync(CancellationToken.None);
            throw;
        }

        run.FinishedAt = DateTime.UtcNow;
        await bookkeeping.SaveChangesAsync(ct);
        return new ImportReport(run, datasetName);
    }

    /// <summary>
    /// Writes the file's rows in one transaction. With <paramref name="newDatasetName"/> the dataset is created and the
    /// run recorded inside that transaction too, so a rollback keeps neither.
    /// </summary>
    private async Task ImportRowsAsync(string path, string fileName, string? newDatasetName, ImportRun run, ImportOptions options,
        IProgress<ImportProgress>? progress, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (newDatasetName is not null)
        {
            // A concurrent import of the same new name fails here on the unique name, before any row is read.
            var created = new Dataset { Name = newDatasetName };
            db.Datasets.Add(created);
            await db.SaveChangesAsync(ct);
            run.DatasetId = created.Id;
        }
        var datasetId = run.DatasetId;
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var totalBytes = file.Length;
        var source = $"{fileName}";
        ImportFormat? format = options.Format;
        var batch = new List<ImportRow>(options.BatchSize);
        var fatal = false;
        var writing = true; // strict mode stops writing at the first bad row but keeps validating, to report every error

        await foreach (var record in JsonRecordReader.ReadAsync(file, ct))
        {
            using (record)
            {
                if (record.Fatal)
                {
                    AddError(run, new ImportRowError { File = fileName, Line = record.Line, Reason = record.Error! });
                    fatal = true;
                    break;
                }
                run.RowsRead++;
                if (record.Error is not null)
                {
                    Skip(record.Line, record.Error);
                    continue;
                }

                var element = record.Document!.RootElement;
                if (format is null)
                {
                    format = RecordMapper.Detect(element);
                    if (format is null)
                    {
                        Skip(record.Line, "cannot tell the format from this record's fields (expected demo, MedQA, MedMCQA or SFT fields); pass --format");
                        format = null;
                        continue;
                    }
                    run.Format = format.Value;
                }

                try
                {
                    var row = RecordMapper.Map(element, format.Value, record.Line, options.CopBase);
                    if (writing) batch.Add(row);
                }
                catch (RowFormatException ex)
                {
                    Skip(record.Line, ex.Message);
                }
            }

            if (batch.Count >= options.BatchSize)
            {
                await WriteBatchAsync(db, datasetId, $"{run.Format.ToString().ToLowerInvariant()}:{source}", batch, run, ct);
                batch.Clear();
                progress?.Report(new ImportProgress(file.Position, totalBytes, run.RowsRead));
            }
        }

        if (fatal)
        {
            await tx.RollbackAsync(ct);
            ResetCounts(run);
            run.Status = ImportRunStatus.Failed;
            return;
        }

        if (writing && batch.Count > 0) await WriteBatchAsync(db, datasetId, $"{run.Format.ToString().ToLowerInvariant()}:{source}", batch, run, ct);
        progress?.Report(new ImportProgress(totalBytes, totalBytes, run.RowsRead));

        if (options.Strict && run.RowsSkipped > 0)
        {
            await tx.RollbackAsync(ct);
            ResetCounts(run);
            run.Status = ImportRunStatus.RolledBack;
            return;
        }

        run.Status = run.RowsSkipped > 0 ? ImportRunStatus.CompletedWithSkips : ImportRunStatus.Completed;
        if (newDatasetName is not null)
        {
            run.FinishedAt = DateTime.UtcNow;
            db.ImportRuns.Add(run);
            await db.SaveChangesAsync(ct);
        }
        await tx.CommitAsync(ct);

        void Skip(int line, string reason)
        {
            run.RowsSkipped++;
            AddError(run, new ImportRowError { File = fileName, Line = line, Reason = reason });
            if (options.Strict) writing = false;
        }
    }

    private static void ResetCounts(ImportRun run)
    {
        run.QuestionsImported = 0;
        run.ProblemsImported = 0;
        run.TrajectoriesImported = 0;
        run.RowsAlreadyPresent = 0;
    }

    private static void AddError(ImportRun run, ImportRowError error)
    {
        if (run.Errors.Count < ImportRun.MaxStoredErrors) run.Errors.Add(error);
    }

    private static async Task WriteBatchAsync(HuatuoDbContext db, long datasetId, string source, List<ImportRow> batch, ImportRun run, CancellationToken ct)
    {
        var questionHashes = batch.Where(r => r.Question is not null).Select(r => r.Question!.Sha256).Distinct().ToList();
        var problemHashes = batch.Where(r => r.Problem is not null).Select(r => r.Problem!.Sha256).Distinct().ToList();
        var trajectoryHashes = batch.Where(r => r.Trajectory is not null).Select(r => r.Trajectory!.Sha256).Distinct().ToList();

        var existingQuestions = await db.ExamQuestions.AsNoTracking()
            .Where(q => q.DatasetId == datasetId && questionHashes.Contains(q.ContentSha256))
            .ToDictionaryAsync(q => q.ContentSha256, q => q.Id, ct);
        var existingProblems = await db.VerifiableProblems.AsNoTracking()
            .Where(p => p.DatasetId == datasetId && problemHashes.Contains(p.ContentSha256))
            .ToDictionaryAsync(p => p.ContentSha256, p => p.Id, ct);
        var existingTrajectories = (await db.ReasoningTrajectories.AsNoTracking()
            .Where(t => t.DatasetId == datasetId && trajectoryHashes.Contains(t.ContentSha256!))
            .Select(t => t.ContentSha256!).ToListAsync(ct)).ToHashSet();

        var newQuestions = new Dictionary<string, ExamQuestion>();
        var newProblems = new Dictionary<string, VerifiableProblem>();
        var newTrajectories = new HashSet<string>();
        foreach (var row in batch)
        {
            var anyNew = false;
            ExamQuestion? question = null;
            long? questionId = null;
            if (row.Question is { } q)
            {
                if (existingQuestions.TryGetValue(q.Sha256, out var id)) questionId = id;
                else if (!newQuestions.TryGetValue(q.Sha256, out question))
                {
                    question = new ExamQuestion
                    {
                        DatasetId = datasetId,
                        Question = q.Question,
                        Options = q.Options,
                        AnswerIdx = q.AnswerIdx,
                        Answer = q.Answer,
                        Source = source,
                        Meta = q.Meta,
                        ContentSha256 = q.Sha256,
                    };
                    newQuestions.Add(q.Sha256, question);
                    db.ExamQuestions.Add(question);
                    run.QuestionsImported++;
                    anyNew = true;
                }
            }

            VerifiableProblem? problem = null;
            long? problemId = null;
            if (row.Problem is { } p)
            {
                if (existingProblems.TryGetValue(p.Sha256, out var id)) problemId = id;
                else if (!newProblems.TryGetValue(p.Sha256, out problem))
                {
                    problem = new VerifiableProblem
                    {
                        DatasetId = datasetId,
                        ExamQuestion = question,
                        ExamQuestionId = question is null ? questionId : null,
                        OpenEndedQuestion = p.OpenEndedQuestion,
                        GroundTruthAnswer = p.GroundTruthAnswer,
                        // Imported problems were already filtered by whoever made the file.
                        Status = row.Trajectory is null ? ProblemStatus.Accepted : ProblemStatus.Solved,
                        ContentSha256 = p.Sha256,
                    };
                    newProblems.Add(p.Sha256, problem);
                    db.VerifiableProblems.Add(problem);
                    run.ProblemsImported++;
                    anyNew = true;
                }
            }

            if (row.Trajectory is { } t && !existingTrajectories.Contains(t.Sha256) && newTrajectories.Add(t.Sha256))
            {
                db.ReasoningTrajectories.Add(new ReasoningTrajectory
                {
                    DatasetId = datasetId,
                    Problem = problem,
                    ProblemId = problem is null ? problemId : null,
                    Question = t.Question,
                    ComplexCot = t.ComplexCot,
                    Response = t.Response,
                    Status = TrajectoryStatus.Imported,
                    ContentSha256 = t.Sha256,
                });
                run.TrajectoriesImported++;
                anyNew = true;
            }

            if (!anyNew) run.RowsAlreadyPresent++;
        }

        await db.SaveChangesAsync(ct);
        db.ChangeTracker.Clear(); // keep memory flat on large files
    }

    private static async Task<string> HashFileAsync(string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
    }
}
