using static TorchSharp.torch;

namespace HuatuoAspire.Model.Modules;

/// <summary>How one forward call uses the cache.</summary>
public abstract record CacheUse(KvCache Cache);

/// <summary>Prefill: a single sequence's prompt (batch 1) is written into row <paramref name="Row"/> from position 0.</summary>
public sealed record PrefillCache(KvCache Cache, int Row) : CacheUse(Cache);

/// <summary>
/// Decode: one new token for each of the first <paramref name="Rows"/> rows, at <paramref name="Positions"/> ([rows] int64);
/// attention covers positions [0, <paramref name="AttendLength"/>) under <paramref name="Mask"/> ([rows, 1, 1, AttendLength] bool).
/// </summary>
public sealed record DecodeCache(KvCache Cache, int Rows, Tensor Positions, int AttendLength, Tensor Mask) : CacheUse(Cache);
