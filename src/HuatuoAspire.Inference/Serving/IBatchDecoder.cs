using HuatuoAspire.Model.Generation;

namespace HuatuoAspire.Inference.Serving;

/// <summary>
/// How the next token of one sequence is chosen. Temperature 0 is greedy (argmax). <paramref name="TopLogprobs"/>: how
/// many most likely alternatives to report with every token (0 = none).
/// </summary>
public sealed record SamplingSettings(float Temperature, float TopP, long? Seed, int TopLogprobs = 0);

/// <summary>
/// The token chosen for one running sequence by a step. <paramref name="SlotReleased"/>: the decoder has already let
/// this sequence go (its cache is full), so it must not be stepped or removed again. <paramref name="Logprob"/> is
/// the token's raw log-probability (log_softmax of the logits at T = 1); <paramref name="TopLogprobs"/> the most
/// likely alternatives when the sequence asked for them.
/// </summary>
public readonly record struct SlotToken(int Slot, int TokenId, bool SlotReleased = false, float Logprob = 0, TokenLogprob[]? TopLogprobs = null);

/// <summary>
/// A slot-based batched decoder: the contract the continuous-batching scheduler drives. A sequence joins with its
/// prompt (<see cref="Join"/> only takes a slot), every <see cref="Step"/> yields the next token of every decoding
/// sequence and prefills up to a token budget of the waiting prompts (a sequence whose prompt a step finishes yields
/// its first token from that step), and a sequence leaves with <see cref="Remove"/>, freeing its slot and cache.
/// Only the scheduler thread calls it, so it need not be thread-safe.
/// </summary>
public interface IBatchDecoder : IDisposable
{
    /// <summary>How many sequences can be decoded together.</summary>
    int MaxBatchSize { get; }

    /// <summary>
    /// Takes a free slot for <paramref name="promptIds"/>; its prompt is prefilled by the following steps. With a
    /// <paramref name="constraint"/> (structured output) every token of the slot is drawn from the logits it leaves.
    /// </summary>
    int Join(IReadOnlyList<int> promptIds, SamplingSettings sampling, ITokenConstraint? constraint = null);

    /// <summary>
    /// Decodes one token for every sequence past its prompt, and prefills at most <paramref name="prefillTokenBudget"/>
    /// tokens of waiting prompts, oldest first (a long prompt goes in chunks over several steps).
    /// </summary>
    IReadOnlyList<SlotToken> Step(int prefillTokenBudget);

    /// <summary>Frees a slot (finished, stopped or cancelled).</summary>
    void Remove(int slot);
}
