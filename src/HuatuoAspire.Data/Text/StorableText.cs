using System.Text;
using System.Text.RegularExpressions;

namespace HuatuoAspire.Data.Text;

/// <summary>
/// Text as PostgreSQL can store it. Model outputs may hold any code units, but PostgreSQL refuses NUL in text
/// (22021) and <c>\u0000</c> in jsonb (22P05), and a lone UTF-16 surrogate has no UTF-8 encoding at all. Each of
/// those becomes U+FFFD, so the row is saved and the reader still sees that something was there.
/// </summary>
public static partial class StorableText
{
    public const char Replacement = '\uFFFD';

    public static bool IsStorable(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\0') return false;
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
                else return false;
            }
            else if (char.IsLowSurrogate(c)) return false;
        }
        return true;
    }

    /// <summary>The text with NUL and lone surrogates replaced by U+FFFD; the same instance when there are none.</summary>
    public static string Clean(string text)
    {
        if (IsStorable(text)) return text;
        var clean = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                clean.Append(c).Append(text[++i]);
            }
            else
            {
                clean.Append(c == '\0' || char.IsSurrogate(c) ? Replacement : c);
            }
        }
        return clean.ToString();
    }

    /// <summary>
    /// JSON text for a jsonb column: besides raw characters, the escapes <c>\u0000</c> and lone <c>\uD800</c>-style
    /// surrogates (which jsonb refuses too) become <c>\uFFFD</c>.
    /// </summary>
    public static string CleanJson(string json)
    {
        var clean = Clean(json);
        if (!clean.Contains("\\u", StringComparison.OrdinalIgnoreCase)) return clean;
        return UnicodeEscape().Replace(clean, match =>
        {
            var escape = match.Groups["escape"];
            var unit = Convert.ToInt32(escape.Value[2..6], 16);
            var bad = unit == 0
                || (unit is >= 0xD800 and <= 0xDBFF && !match.Groups["low"].Success)
                || (unit is >= 0xDC00 and <= 0xDFFF);
            return bad ? match.Groups["slashes"].Value + "\\uFFFD" + match.Groups["low"].Value : match.Value;
        });
    }

    // An escape preceded by an even number of backslashes (an odd count would make it literal text), with the low
    // half that may follow a high surrogate.
    [GeneratedRegex(@"(?<slashes>(?<!\\)(?:\\\\)*)(?<escape>\\u[0-9a-fA-F]{4})(?<low>\\u[dD][c-fC-F][0-9a-fA-F]{2})?")]
    private static partial Regex UnicodeEscape();
}
