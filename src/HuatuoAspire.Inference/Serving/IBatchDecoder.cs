namespace HuatuoAspire.Inference.Serving;

/// <summary>How the next token of one sequence is chosen. Temperature 0 is greedy (argmax).</summary>
public sealed record SamplingSettings(float Temperature, float TopP, long? Seed);

/// <summary>
/// The token chosen for one running sequence by a decode step. <paramref name="SlotReleased"/>: the decoder has
/// already let this sequence go (its cache is full), so it must not be stepped or removed again.
/// </summary>
public readonly record struct SlotToken(int Slot, int TokenId, bool SlotReleased = false);

/// <summary>
/// A slot-based batched decoder: the contract the continuous-batching scheduler drives. A sequence joins with its
/// prompt (prefilled at once, which also samples its first token, so time to first token is one prefill), every
/// <see cref="Step"/> yields the next token of every joined sequence, and a sequence leaves with
/// <see cref="Remove"/>, freeing its slot and cache. Only the scheduler thread calls it, so it need not be thread-safe.
/// </summary>
public interface IBatchDecoder : IDisposable
{
    /// <summary>How many sequences can be decoded together.</summary>
    int MaxBatchSize { get; }

    /// <summary>Prefills <paramref name="promptIds"/> into a free slot; returns the slot and the sequence's first token.</summary>
    SlotToken AddSequence(IReadOnlyList<int> promptIds, SamplingSettings sampling);

    /// <summary>Decodes one token for every joined sequence.</summary>
    IReadOnlyList<SlotToken> Step();

    /// <summary>Frees a slot (finished, stopped or cancelled).</summary>
    void Remove(int slot);
}
