using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;

namespace HuatuoAspire.Data.Import;

/// <summary>A row that failed validation; the message is the reason shown with file:line.</summary>
public sealed class RowFormatException(string reason) : Exception(reason);

public sealed record QuestionPart(string Question, Dictionary<string, string> Options, string AnswerIdx, string Answer, string? Meta, string Sha256);

public sealed record ProblemPart(string OpenEndedQuestion, string GroundTruthAnswer, string Sha256);

public sealed record TrajectoryPart(string Question, string ComplexCot, string Response, string Sha256);

/// <summary>What one valid source record contributes: an exam question, a verifiable problem, an SFT trajectory, or several.</summary>
public sealed record ImportRow(int Line, QuestionPart? Question, ProblemPart? Problem, TrajectoryPart? Trajectory);

/// <summary>Content hashes: SHA-256 over a JSON array of the fields in a fixed order, so formatting never matters.</summary>
public static class ContentHash
{
    public static string Of(params object?[] fields)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var field in fields)
            {
                switch (field)
                {
                    case null: writer.WriteNullValue(); break;
                    case string s: writer.WriteStringValue(s); break;
                    case IReadOnlyDictionary<string, string> d:
                        writer.WriteStartObject();
                        foreach (var (k, v) in d.OrderBy(kv => kv.Key, StringComparer.Ordinal)) writer.WriteString(k, v);
                        writer.WriteEndObject();
                        break;
                    default: throw new ArgumentException($"Unsupported hash field type {field.GetType()}.");
                }
            }
            writer.WriteEndArray();
        }
        return Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan));
    }
}
