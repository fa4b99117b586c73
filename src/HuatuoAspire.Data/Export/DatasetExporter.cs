using System.Text.Encodings.Web;
using System.Text.Json;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Data.Import;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Data.Export;

public enum ExportFormat { Json, Jsonl }

public enum ExportContent { Problems, Sft }

/// <summary>
/// Writes verifiable problems (`Open-ended Verifiable Question`, `Ground-True Answer` and the source MCQ fields) or
/// SFT records (`Question`, `Complex_CoT`, `Response`) in the reference formats, streamed row by row from the
/// database, so the files import back unchanged.
/// </summary>
public sealed class DatasetExporter(IDbContextFactory<HuatuoDbContext> contexts)
{
    private static readonly JsonWriterOptions CompactOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonWriterOptions IndentedOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = true };

    public async Task<int> ExportAsync(ExportContent what, Stream output, ExportFormat format, string? datasetName = null, CancellationToken ct = default) =>
        what switch
        {
            ExportContent.Problems => await ExportProblemsAsync(output, format, datasetName, ct),
            ExportContent.Sft => await ExportSftAsync(output, format, datasetName, ct),
            _ => throw new ArgumentOutOfRangeException(nameof(what)),
        };

    /// <summary>Writes every verifiable problem that passed the filters (Accepted or later), optionally of one dataset.</summary>
    public async Task<int> ExportProblemsAsync(Stream output, ExportFormat format, string? datasetName = null, CancellationToken ct = default)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var query = db.VerifiableProblems.AsNoTracking()
            .Where(p => p.Status != ProblemStatus.Pending && p.Status != ProblemStatus.Rejected);
        if (datasetName is not null) query = query.Where(p => p.Dataset!.Name == datasetName);
        var rows = query.OrderBy(p => p.Id).Select(p => new
        {
            p.OpenEndedQuestion,
            p.GroundTruthAnswer,
            Question = p.ExamQuestion == null ? null : p.ExamQuestion.Question,
            Options = p.ExamQuestion == null ? null : p.ExamQuestion.Options,
            AnswerIdx = p.ExamQuestion == null ? null : p.ExamQuestion.AnswerIdx,
            Answer = p.ExamQuestion == null ? null : p.ExamQuestion.Answer,
        }).AsAsyncEnumerable();

        return await WriteAsync(output, format, rows, (writer, p) =>
        {
            if (p.Question is not null)
            {
                writer.WriteString("question", p.Question);
                writer.WriteStartObject("options");
                foreach (var (letter, text) in p.Options!.OrderBy(o => o.Key, StringComparer.Ordinal)) writer.WriteString(letter, text);
                writer.WriteEndObject();
                writer.WriteString("answer_idx", p.AnswerIdx);
                writer.WriteString("answer", p.Answer);
            }
            writer.WriteString(RecordMapper.OpenEndedField, p.OpenEndedQuestion);
            writer.WriteString(RecordMapper.GroundTruthField, p.GroundTruthAnswer);
        }, ct);
    }

    /// <summary>Writes every finished trajectory (imported or verified by search) as an SFT record.</summary>
    public async Task<int> ExportSftAsync(Stream output, ExportFormat format, string? datasetName = null, CancellationToken ct = default)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var query = db.ReasoningTrajectories.AsNoTracking()
            .Where(t => (t.Status == TrajectoryStatus.Succeeded || t.Status == TrajectoryStatus.Imported)
                        && t.ComplexCot != null && t.Response != null);
        if (datasetName is not null)
            query = query.Where(t => (t.Dataset != null && t.Dataset.Name == datasetName) || (t.Problem != null && t.Problem.Dataset!.Name == datasetName));
        var rows = query.OrderBy(t => t.Id).Select(t => new { t.Question, t.ComplexCot, t.Response }).AsAsyncEnumerable();

        return await WriteAsync(output, format, rows, (writer, t) =>
        {
            writer.WriteString("Question", t.Question);
            writer.WriteString("Complex_CoT", t.ComplexCot);
            writer.WriteString("Response", t.Response);
        }, ct);
    }

    private static async Task<int> WriteAsync<T>(Stream output, ExportFormat format, IAsyncEnumerable<T> rows, Action<Utf8JsonWriter, T> writeFields, CancellationToken ct)
    {
        var count = 0;
        if (format == ExportFormat.Json)
        {
            await using var writer = new Utf8JsonWriter(output, IndentedOptions);
            writer.WriteStartArray();
            await foreach (var row in rows.WithCancellation(ct))
            {
                writer.WriteStartObject();
                writeFields(writer, row);
                writer.WriteEndObject();
                count++;
                if (writer.BytesPending > 1 << 16) await writer.FlushAsync(ct);
            }
            writer.WriteEndArray();
            await writer.FlushAsync(ct);
            output.WriteByte((byte)'\n');
        }
        else
        {
            await using var writer = new Utf8JsonWriter(output, CompactOptions);
            await foreach (var row in rows.WithCancellation(ct))
            {
                writer.WriteStartObject();
                writeFields(writer, row);
                writer.WriteEndObject();
                await writer.FlushAsync(ct);
                writer.Reset();
                output.WriteByte((byte)'\n');
                count++;
            }
        }
        await output.FlushAsync(ct);
        return count;
    }
}
