using System.Buffers;
using System.Text;

namespace HuatuoAspire.Data.Import;

/// <summary>
/// Finds the first byte sequence that is not UTF-8 in a record's bytes, so an import names the line and column instead
/// of storing U+FFFD where a Latin-1 or Windows-1252 file had its accents.
/// </summary>
public static class Utf8Check
{
    /// <summary>Null when <paramref name="bytes"/> are valid UTF-8; else the reason and how many lines precede the bad byte.</summary>
    public static (string Reason, int LineOffset)? FindInvalid(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return null;
        var rest = bytes;
        while (!rest.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(rest, out _, out var consumed);
            if (status != OperationStatus.Done)
            {
                var offset = bytes.Length - rest.Length;
                var before = bytes[..offset];
                var lineStart = before.LastIndexOf((byte)'\n') + 1;
                var column = Encoding.UTF8.GetCharCount(before[lineStart..]) + 1;
                var bad = string.Join(' ', rest[..Math.Max(1, consumed)].ToArray().Select(b => $"0x{b:X2}"));
                return ($"invalid UTF-8 at column {column} (byte {bad}); save the file as UTF-8", before.Count((byte)'\n'));
            }
            rest = rest[consumed..];
        }
        return null;
    }
}
