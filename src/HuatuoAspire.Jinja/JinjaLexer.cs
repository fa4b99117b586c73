using System.Globalization;
using System.Text;

namespace HuatuoAspire.Jinja;

internal enum TokenKind
{
    Text,
    BlockStart,     // {%
    BlockEnd,       // %}
    VariableStart,  // {{
    VariableEnd,    // }}
    Name,
    String,
    Integer,
    Float,
    Operator,
    End,
}

internal readonly record struct JinjaToken(TokenKind Kind, string Value, int Line)
{
    public bool Is(TokenKind kind, string value) => Kind == kind && Value == value;

    public bool IsOperator(string value) => Kind == TokenKind.Operator && Value == value;

    public bool IsName(string value) => Kind == TokenKind.Name && Value == value;

    public override string ToString() => Kind switch
    {
        TokenKind.End => "end of template",
        TokenKind.Text => "text",
        TokenKind.String => $"string '{Value}'",
        _ => $"'{Value}'",
    };
}

/// <summary>
/// Splits a template into text and tag tokens with Jinja's whitespace rules as Hugging Face configures them:
/// <c>trim_blocks</c> and <c>lstrip_blocks</c> on, <c>keep_trailing_newline</c> off, and the <c>-</c> modifiers
/// that strip all whitespace on one side of a tag.
/// </summary>
internal static class JinjaLexer
{
    private static readonly string[] Operators =
        ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    public static List<JinjaToken> Tokenize(string source)
    {
        // keep_trailing_newline=False: one trailing newline of the template is dropped.
        if (source.EndsWith('\n')) source = source[..^1];
        var tokens = new List<JinjaToken>();
        var text = new StringBuilder();
        var line = 1;
        var textLine = 1;
        var position = 0;
        var stripNextLeadingWhitespace = false;
        var trimNextNewline = false;

        void FlushText()
        {
            if (text.Length > 0) tokens.Add(new JinjaToken(TokenKind.Text, text.ToString(), textLine));
            text.Clear();
        }

        while (position < source.Length)
        {
            var open = FindTagStart(source, position);
            var chunk = source[position..(open < 0 ? source.Length : open)];
            if (stripNextLeadingWhitespace) chunk = chunk.TrimStart();
            else if (trimNextNewline) chunk = chunk.StartsWith("\r\n") ? chunk[2..] : chunk.StartsWith('\n') ? chunk[1..] : chunk;
            stripNextLeadingWhitespace = trimNextNewline = false;
            if (text.Length == 0) textLine = line;
            line += CountNewlines(source, position, open < 0 ? source.Length : open);
            if (open < 0) { text.Append(chunk); position = source.Length; break; }

            var kind = source[open + 1];
            var modifier = open + 2 < source.Length ? source[open + 2] : '\0';
            text.Append(chunk);
            if (modifier == '-') TrimEnd(text, null);
            else if (kind != '{' && modifier != '+' && AtLineStart(source, open)) TrimEnd(text, [' ', '\t']);
            position = open + 2 + (modifier is '-' or '+' ? 1 : 0);

            if (kind == '#')
            {
                var close = source.IndexOf("#}", position, StringComparison.Ordinal);
                if (close < 0) throw JinjaException.At(line, "comment is not closed with #}");
                line += CountNewlines(source, position, close);
                stripNextLeadingWhitespace = source[close - 1] == '-' && close - 1 >= position;
                trimNextNewline = !stripNextLeadingWhitespace;
                position = close + 2;
                continue;
            }

            FlushText();
            var tagLine = line;
            if (kind == '%' && TryReadRawBlock(source, ref position, ref line, tokens, ref trimNextNewline, ref stripNextLeadingWhitespace)) continue;
            tokens.Add(new JinjaToken(kind == '%' ? TokenKind.BlockStart : TokenKind.VariableStart, kind == '%' ? "{%" : "{{", tagLine));
            var closer = kind == '%' ? "%}" : "}}";
            var braceDepth = 0;
            while (true)
            {
                while (position < source.Length && char.IsWhiteSpace(source[position]))
                {
                    if (source[position] == '\n') line++;
                    position++;
                }
                if (position >= source.Length) throw JinjaException.At(tagLine, $"tag is not closed with {closer}");
                if (braceDepth == 0 && (At(source, position, closer) || At(source, position, "-" + closer) || At(source, position, "+" + closer)))
                {
                    stripNextLeadingWhitespace = source[position] == '-';
                    if (source[position] is '-' or '+') position++;
                    trimNextNewline = kind == '%' && !stripNextLeadingWhitespace && source[position - 1] != '+';
                    tokens.Add(new JinjaToken(kind == '%' ? TokenKind.BlockEnd : TokenKind.VariableEnd, closer, line));
                    position += 2;
                    break;
                }
                var token = ReadToken(source, ref position, line);
                if (token.IsOperator("{")) braceDepth++;
                else if (token.IsOperator("}")) braceDepth--;
                tokens.Add(token);
            }
        }
        FlushText();
        tokens.Add(new JinjaToken(TokenKind.End, "", line));
        return tokens;
    }

    // {% raw %}...{% endraw %}: the content is text, not template.
    private static bool TryReadRawBlock(string source, ref int position, ref int line, List<JinjaToken> tokens,
        ref bool trimNextNewline, ref bool stripNext)
    {
        var p = position;
        while (p < source.Length && char.IsWhiteSpace(source[p])) p++;
        if (!At(source, p, "raw")) return false;
        p += 3;
        while (p < source.Length && char.IsWhiteSpace(source[p])) p++;
        var strip = At(source, p, "-%}");
        if (!strip && !At(source, p, "%}")) return false;
        p += strip ? 3 : 2;
        var end = p;
        while (true)
        {
            end = source.IndexOf("{%", end, StringComparison.Ordinal);
            if (end < 0) throw JinjaException.At(line, "{% raw %} is not closed with {% endraw %}");
            var q = end + 2 + (end + 2 < source.Length && source[end + 2] == '-' ? 1 : 0);
            while (q < source.Length && char.IsWhiteSpace(source[q])) q++;
            if (At(source, q, "endraw")) break;
            end += 2;
        }
        var content = source[p..end];
        if (strip) content = content.TrimStart();
        if (source[end + 2] == '-') content = content.TrimEnd();
        tokens.Add(new JinjaToken(TokenKind.Text, content, line));
        var close = source.IndexOf("%}", end, StringComparison.Ordinal);
        if (close < 0) throw JinjaException.At(line, "{% endraw is not closed with %}");
        line += CountNewlines(source, position, close);
        stripNext = source[close - 1] == '-';
        trimNextNewline = !stripNext;
        position = close + 2;
        return true;
    }

    // lstrip_blocks: a block or comment tag preceded on its line only by spaces and tabs takes them away.
    private static bool AtLineStart(string source, int tagStart)
    {
        var i = tagStart - 1;
        while (i >= 0 && source[i] is ' ' or '\t') i--;
        return i < 0 || source[i] == '\n';
    }

    private static void TrimEnd(StringBuilder text, char[]? only)
    {
        var length = text.Length;
        while (length > 0 && (only is null ? char.IsWhiteSpace(text[length - 1]) : only.Contains(text[length - 1]))) length--;
        text.Length = length;
    }

    private static JinjaToken ReadToken(string source, ref int position, int line)
    {
        var c = source[position];
        if (c is '\'' or '"') return new JinjaToken(TokenKind.String, ReadString(source, ref position, line), line);
        if (char.IsAsciiDigit(c))
        {
            var start = position;
            while (position < source.Length && (char.IsAsciiDigit(source[position]) || source[position] == '_')) position++;
            var isFloat = false;
            if (position + 1 < source.Length && source[position] == '.' && char.IsAsciiDigit(source[position + 1]))
            {
                isFloat = true;
                position++;
                while (position < source.Length && (char.IsAsciiDigit(source[position]) || source[position] == '_')) position++;
            }
            if (position < source.Length && source[position] is 'e' or 'E')
            {
                var p = position + 1;
                if (p < source.Length && source[p] is '+' or '-') p++;
                if (p < source.Length && char.IsAsciiDigit(source[p]))
                {
                    isFloat = true;
                    position = p;
                    while (position < source.Length && char.IsAsciiDigit(source[position])) position++;
                }
            }
            return new JinjaToken(isFloat ? TokenKind.Float : TokenKind.Integer, source[start..position].Replace("_", ""), line);
        }
        if (char.IsLetter(c) || c == '_')
        {
            var start = position;
            while (position < source.Length && (char.IsLetterOrDigit(source[position]) || source[position] == '_')) position++;
            return new JinjaToken(TokenKind.Name, source[start..position], line);
        }
        foreach (var op in Operators)
        {
            if (At(source, position, op))
            {
                position += op.Length;
                return new JinjaToken(TokenKind.Operator, op, line);
            }
        }
        throw JinjaException.At(line, $"unexpected character '{c}'");
    }

    private static string ReadString(string source, ref int position, int line)
    {
        var quote = source[position++];
        var value = new StringBuilder();
        while (true)
        {
            if (position >= source.Length) throw JinjaException.At(line, "string literal is not closed");
            var c = source[position++];
            if (c == quote) return value.ToString();
            if (c != '\\') { value.Append(c); continue; }
            if (position >= source.Length) throw JinjaException.At(line, "string literal ends with a backslash");
            var e = source[position++];
            switch (e)
            {
                case 'n': value.Append('\n'); break;
                case 't': value.Append('\t'); break;
                case 'r': value.Append('\r'); break;
                case 'b': value.Append('\b'); break;
                case 'f': value.Append('\f'); break;
                case 'v': value.Append('\v'); break;
                case '0': value.Append('\0'); break;
                case '\\': case '\'': case '"': value.Append(e); break;
                case '\n': break; // a backslash-newline continues the string, as in Python
                case 'x' or 'u' or 'U':
                    var length = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    if (position + length > source.Length || !int.TryParse(source.AsSpan(position, length), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code))
                        throw JinjaException.At(line, $"invalid \\{e} escape in string literal");
                    value.Append(char.ConvertFromUtf32(code));
                    position += length;
                    break;
                default: value.Append('\\').Append(e); break; // Python keeps unknown escapes as written
            }
        }
    }

    private static int FindTagStart(string source, int from)
    {
        for (var i = source.IndexOf('{', from); i >= 0 && i + 1 < source.Length; i = source.IndexOf('{', i + 1))
            if (source[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    private static bool At(string source, int position, string value) =>
        position + value.Length <= source.Length && string.CompareOrdinal(source, position, value, 0, value.Length) == 0;

    private static int CountNewlines(string source, int start, int end) => source.AsSpan(start, end - start).Count('\n');
}
