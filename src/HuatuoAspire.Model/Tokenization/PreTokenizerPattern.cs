using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace HuatuoAspire.Model.Tokenization;

/// <summary>
/// A Hugging Face <c>Split</c> pre-tokenizer regex (behaviour "Isolated": every match and every gap between
/// matches is a piece) evaluated the way the Rust tokenizers evaluate it: on code points, not UTF-16 units.
/// .NET's regex sees a character outside the BMP as two surrogates, so "😀abc" would split differently than in
/// Oniguruma. The patterns of byte-level BPE tokenizers only classify characters as letter, number, whitespace or
/// other, so each surrogate pair is replaced by one BMP stand-in of the same class before matching and the
/// offsets are mapped back afterwards.
/// </summary>
public sealed class PreTokenizerPattern
{
    /// <summary>GPT-2's pattern, used by a ByteLevel pre-tokenizer with <c>use_regex: true</c>.</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    // Stand-ins: a letter that case-folds to no ASCII letter, a decimal digit, and a currency sign.
    private const char LetterStandIn = 'ɐ';
    private const char NumberStandIn = '٠';
    private const char OtherStandIn = '¤';

    private readonly Regex _regex;

    public PreTokenizerPattern(string pattern)
    {
        try
        {
            _regex = new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled);
        }
        catch (ArgumentException e)
        {
            throw new NotSupportedException($"The pre-tokenizer regex '{pattern}' is not valid for .NET: {e.Message}", e);
        }
        Pattern = pattern;
    }

    public string Pattern { get; }

    /// <summary>Splits <paramref name="text"/> into consecutive pieces that together spell it exactly.</summary>
    public void Split(string text, List<string> pieces)
    {
        var (subject, offsets) = ReplaceSupplementaryCharacters(text);
        var last = 0;
        for (var match = _regex.Match(subject); match.Success; match = match.NextMatch())
        {
            if (match.Length == 0) continue;
            if (match.Index > last) pieces.Add(Slice(text, offsets, last, match.Index));
            pieces.Add(Slice(text, offsets, match.Index, match.Index + match.Length));
            last = match.Index + match.Length;
        }
        if (last < subject.Length) pieces.Add(Slice(text, offsets, last, subject.Length));
    }

    private static string Slice(string text, int[]? offsets, int start, int end) =>
        offsets is null ? text[start..end] : text[offsets[start]..offsets[end]];

    private static (string Subject, int[]? Offsets) ReplaceSupplementaryCharacters(string text)
    {
        var first = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0) return (text, null);
        var builder = new StringBuilder(text.Length);
        var offsets = new List<int>(text.Length + 1);
        for (var i = 0; i < text.Length;)
        {
            offsets.Add(i);
            if (char.IsSurrogatePair(text, i))
            {
                var category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text, i));
                builder.Append(category switch
                {
                    <= UnicodeCategory.OtherLetter => LetterStandIn,
                    UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => NumberStandIn,
                    _ => OtherStandIn,
                });
                i += 2;
            }
            else
            {
                builder.Append(char.IsSurrogate(text[i]) ? OtherStandIn : text[i]);
                i++;
            }
        }
        offsets.Add(text.Length);
        return (builder.ToString(), offsets.ToArray());
    }
}
