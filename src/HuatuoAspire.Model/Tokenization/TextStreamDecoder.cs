using System.Text;

namespace HuatuoAspire.Model.Tokenization;

/// <summary>
/// Turns token ids, pushed one at a time as a model produces them, into text that is valid UTF-8 at every step:
/// bytes of a character split across tokens are held back until the character is complete. Invalid byte
/// sequences come out as U+FFFD, as Hugging Face's byte-level decoder writes them. Not thread-safe: one per stream.
/// </summary>
public sealed class TextStreamDecoder
{
    private readonly HfTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly byte[] _bytes = new byte[256];
    private char[] _chars = new char[256];

    internal TextStreamDecoder(HfTokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one id and returns the text it completes (often empty while a multi-byte character is pending).</summary>
    public string Push(int id)
    {
        if (_tokenizer.AddedTokenOf(id) is { } added)
        {
            if (added.Special && _skipSpecialTokens) return "";
            // An added token is text of its own: whatever bytes were pending cannot be completed any more.
            return Flush() + added.Content;
        }
        var token = _tokenizer.IdToToken(id) ?? throw new ArgumentOutOfRangeException(nameof(id), id, "No token has this id.");
        var count = 0;
        var bytes = token.Length <= _bytes.Length ? _bytes : new byte[token.Length];
        foreach (var c in token)
        {
            if (!ByteLevelAlphabet.TryCharToByte(c, out var b))
                throw new InvalidDataException($"Token {id} '{token}' contains '{c}', which is not a byte-level character.");
            bytes[count++] = b;
        }
        return Convert(bytes.AsSpan(0, count), flush: false);
    }

    /// <summary>Ends the stream: any incomplete character left over comes out as U+FFFD.</summary>
    public string Flush() => Convert([], flush: true);

    private string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        // GetCharCount does not consume; GetChars must always run so that a partial character enters the decoder's state.
        var needed = _utf8.GetCharCount(bytes, flush);
        if (_chars.Length < needed) _chars = new char[needed * 2];
        var written = _utf8.GetChars(bytes, _chars, flush);
        return written == 0 ? "" : new string(_chars, 0, written);
    }
}
