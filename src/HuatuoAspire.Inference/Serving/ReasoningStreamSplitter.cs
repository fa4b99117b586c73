using HuatuoAspire.Domain;

namespace HuatuoAspire.Inference.Serving;

/// <summary>Text routed to the reasoning part or to the answer part of a reply.</summary>
public readonly record struct ReplyDelta(string? Reasoning, string? Content)
{
    public bool IsEmpty => string.IsNullOrEmpty(Reasoning) && string.IsNullOrEmpty(Content);
}

/// <summary>
/// Splits HuatuoGPT-o1 output (<c>## Thinking</c> … <c>## Final Response</c> …) into reasoning and answer while it
/// streams, the vLLM/DeepSeek <c>reasoning_content</c> convention. A reply that does not start with the thinking
/// header is all answer. Text that could be the start of the <c>## Final Response</c> marker (and the blank lines
/// before it) is held back until it is known not to be, so no marker fragment ever reaches a client.
/// The headers are <see cref="ReasoningFormat"/>'s, the one shared definition of the format.
/// </summary>
public sealed class ReasoningStreamSplitter
{
    public const string ThinkingHeader = ReasoningFormat.ThinkingHeader;
    public const string FinalResponseMarker = ReasoningFormat.FinalResponseHeader;

    private enum Part { Undecided, Reasoning, Answer }

    private Part _part = Part.Undecided;
    private string _pending = "";
    private bool _skipLeadingWhitespace;

    /// <summary>Adds generated text; returns what can be released now.</summary>
    public ReplyDelta Push(string text)
    {
        _pending += text;
        string? reasoning = null, content = null;
        while (true)
        {
            switch (_part)
            {
                case Part.Undecided:
                {
                    var trimmed = _pending.TrimStart();
                    if (trimmed.StartsWith(ThinkingHeader, StringComparison.Ordinal))
                    {
                        _pending = trimmed[ThinkingHeader.Length..];
                        _part = Part.Reasoning;
                        _skipLeadingWhitespace = true;
                        continue;
                    }
                    if (ThinkingHeader.StartsWith(trimmed, StringComparison.Ordinal)) return new ReplyDelta(reasoning, content);
                    _part = Part.Answer;
                    continue;
                }
                case Part.Reasoning:
                {
                    if (_skipLeadingWhitespace)
                    {
                        _pending = _pending.TrimStart();
                        if (_pending.Length == 0) return new ReplyDelta(reasoning, content);
                        _skipLeadingWhitespace = false;
                    }
                    var marker = _pending.IndexOf(FinalResponseMarker, StringComparison.Ordinal);
                    if (marker >= 0)
                    {
                        reasoning += _pending[..marker].TrimEnd();
                        _pending = _pending[(marker + FinalResponseMarker.Length)..];
                        _part = Part.Answer;
                        _skipLeadingWhitespace = true;
                        continue;
                    }
                    var keep = HeldBackTail(_pending);
                    reasoning += _pending[..^keep];
                    _pending = _pending[^keep..];
                    return new ReplyDelta(NullIfEmpty(reasoning), content);
                }
                default:
                {
                    if (_skipLeadingWhitespace)
                    {
                        _pending = _pending.TrimStart();
                        if (_pending.Length == 0) return new ReplyDelta(NullIfEmpty(reasoning), content);
                        _skipLeadingWhitespace = false;
                    }
                    content += _pending;
                    _pending = "";
                    return new ReplyDelta(NullIfEmpty(reasoning), NullIfEmpty(content));
                }
            }
        }
    }

    /// <summary>Ends the reply: whatever was held back is released to the part it belongs to.</summary>
    public ReplyDelta Finish()
    {
        var rest = _pending;
        _pending = "";
        return _part switch
        {
            Part.Reasoning => new ReplyDelta(NullIfEmpty(_skipLeadingWhitespace ? rest.Trim() : rest.TrimEnd()), null),
            // An unfinished thinking header ("## Thin") is just text.
            _ => new ReplyDelta(null, NullIfEmpty(_skipLeadingWhitespace ? rest.TrimStart() : rest)),
        };
    }

    /// <summary>
    /// Splits a complete reply: a well-formed one exactly as <see cref="ReasoningFormat.Parse"/> does (what SFT,
    /// the reward and the evaluation use); anything else as the stream would have routed it.
    /// </summary>
    public static (string? Reasoning, string Content) Split(string text)
    {
        if (ReasoningFormat.Parse(text) is { } sections && text.TrimStart().StartsWith(ThinkingHeader, StringComparison.Ordinal))
        {
            return (sections.Thinking, sections.FinalResponse);
        }
        return SplitAsStreamed(text);
    }

    /// <summary>What a client streaming <paramref name="text"/> receives, concatenated.</summary>
    public static (string? Reasoning, string Content) SplitAsStreamed(string text)
    {
        var splitter = new ReasoningStreamSplitter();
        var first = splitter.Push(text);
        var last = splitter.Finish();
        var startsWithHeader = text.TrimStart().StartsWith(ThinkingHeader, StringComparison.Ordinal);
        return (startsWithHeader ? first.Reasoning + last.Reasoning : null, first.Content + last.Content);
    }

    // The longest tail that may still become "<whitespace>## Final Response": it is held back, so that the
    // reasoning part neither shows a marker fragment nor ends in the blank lines before the marker.
    private static int HeldBackTail(string text)
    {
        for (var start = 0; start < text.Length; start++)
        {
            var tail = text.AsSpan(start);
            var body = tail.TrimStart();
            if (body.Length < FinalResponseMarker.Length && FinalResponseMarker.AsSpan().StartsWith(body))
            {
                return tail.Length;
            }
        }
        return 0;
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
