namespace HuatuoAspire.Model.Tokenization;

/// <summary>
/// GPT-2's reversible byte ↔ printable-character table used by every byte-level BPE vocabulary: printable
/// Latin-1 bytes stand for themselves and the other 68 bytes (controls, space, NBSP, soft hyphen) are shifted to
/// U+0100 onwards, so that a vocabulary entry never contains whitespace or control characters.
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToCharTable = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByteTable =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToCharTable[b], b => (byte)b);

    /// <summary>The character that stands for <paramref name="value"/> in a byte-level vocabulary.</summary>
    public static char ByteToChar(byte value) => ByteToCharTable[value];

    /// <summary>The byte a vocabulary character stands for, or false when the character is not in the alphabet.</summary>
    public static bool TryCharToByte(char c, out byte value) => CharToByteTable.TryGetValue(c, out value);

    /// <summary>The byte-level spelling of a string: its UTF-8 bytes, each as its alphabet character.</summary>
    public static string Encode(ReadOnlySpan<char> text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text.ToArray());
        return string.Create(bytes.Length, bytes, static (span, b) =>
        {
            for (var i = 0; i < b.Length; i++) span[i] = ByteToCharTable[b[i]];
        });
    }

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        var shifted = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)(256 + shifted++);
        }
        return table;
    }
}
