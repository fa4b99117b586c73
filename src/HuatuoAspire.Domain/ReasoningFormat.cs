namespace HuatuoAspire.Domain;

/// <summary>A response split into its two HuatuoGPT-o1 sections.</summary>
public sealed record ReasoningSections(string Thinking, string FinalResponse);

/// <summary>
/// The one place that knows the HuatuoGPT-o1 answer format
/// <c>## Thinking\n\n{CoT}\n\n## Final Response\n\n{answer}</c>: SFT composes it, the PPO reward and the
/// evaluation parse it.
/// </summary>
public static class ReasoningFormat
{
    public const string ThinkingHeader = "## Thinking";
    public const string FinalResponseHeader = "## Final Response";

    public static string Compose(string complexCot, string response)
    {
        ArgumentNullException.ThrowIfNull(complexCot);
        ArgumentNullException.ThrowIfNull(response);
        return $"{ThinkingHeader}\n\n{complexCot.Trim()}\n\n{FinalResponseHeader}\n\n{response.Trim()}";
    }

    /// <summary>
    /// The sections when <paramref name="text"/> has exactly one <c>## Thinking</c> followed by exactly one
    /// <c>## Final Response</c> (the reward's format rule); otherwise null.
    /// </summary>
    public static ReasoningSections? Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Count(text, ThinkingHeader) != 1 || Count(text, FinalResponseHeader) != 1) return null;
        var thinking = text.IndexOf(ThinkingHeader, StringComparison.Ordinal);
        var final = text.IndexOf(FinalResponseHeader, StringComparison.Ordinal);
        if (final < thinking) return null;
        var cot = text[(thinking + ThinkingHeader.Length)..final].Trim();
        var answer = text[(final + FinalResponseHeader.Length)..].Trim();
        return new ReasoningSections(cot, answer);
    }

    private static int Count(string text, string header)
    {
        var count = 0;
        for (var i = text.IndexOf(header, StringComparison.Ordinal); i >= 0; i = text.IndexOf(header, i + header.Length, StringComparison.Ordinal)) count++;
        return count;
    }
}
