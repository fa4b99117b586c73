namespace HuatuoAspire.Domain;

/// <summary>Tokens and cost of one or more LLM calls; adds up across the calls of an item or a job.</summary>
public sealed record LlmUsage(long InputTokens, long OutputTokens, decimal Cost, int Calls = 1)
{
    public static readonly LlmUsage None = new(0, 0, 0m, 0);

    public static LlmUsage operator +(LlmUsage a, LlmUsage b) =>
        new(a.InputTokens + b.InputTokens, a.OutputTokens + b.OutputTokens, a.Cost + b.Cost, a.Calls + b.Calls);
}
