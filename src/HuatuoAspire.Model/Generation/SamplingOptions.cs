namespace HuatuoAspire.Model.Generation;

/// <summary>
/// How one sequence is sampled. Temperature 0 is greedy. <see cref="Seed"/> makes sampling reproducible: the same
/// seed, prompt and options give the same tokens, whatever else is in the batch.
/// </summary>
public sealed record SamplingOptions
{
    public double Temperature { get; init; } = 1.0;
    public double TopP { get; init; } = 1.0;
    public int TopK { get; init; }
    public int? Seed { get; init; }
    public int MaxNewTokens { get; init; } = 256;
    /// <summary>Token ids that end the sequence (included in the output); default: the tokenizer's end-of-sequence ids.</summary>
    public IReadOnlySet<int>? StopTokenIds { get; init; }
    /// <summary>Strings that end the sequence; the text is cut before them (handled where text is decoded).</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>How many most likely alternatives (with raw log-probabilities) to report per generated token; 0 = none.</summary>
    public int TopLogprobs { get; init; }

    public static SamplingOptions Greedy(int maxNewTokens) => new() { Temperature = 0, MaxNewTokens = maxNewTokens };

    public void Validate()
    {
        if (Temperature < 0 || double.IsNaN(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "temperature must be >= 0.");
        if (TopP is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top_p must be in (0, 1].");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "top_k must be >= 0 (0 = off).");
        if (TopLogprobs < 0) throw new ArgumentOutOfRangeException(nameof(TopLogprobs), TopLogprobs, "top_logprobs must be >= 0.");
        if (MaxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "max_new_tokens must be >= 1.");
    }
}

/// <summary>
/// One sampled token. <see cref="LogProb"/> is log π(token) under the policy being sampled: log_softmax(logits / T)
/// (T = 1 when greedy), before top-k/top-p — what PPO's ratio uses, recomputable from logits alone.
/// <see cref="RawLogProb"/> is log_softmax(logits) at T = 1.
/// </summary>
public readonly record struct SampledToken(int TokenId, float LogProb, float RawLogProb);
