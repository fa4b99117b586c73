using static TorchSharp.torch;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// A preallocated key/value cache: per layer, keys and values of shape [rows, kv_heads, max_length, head_dim].
/// One row per sequence being generated; nothing is allocated while decoding.
/// </summary>
public sealed class KvCache : IDisposable
{
    public KvCache(ModelConfig config, int rows, int maxLength, Device device, ScalarType dtype)
    {
        Rows = rows;
        MaxLength = maxLength;
        Keys = new Tensor[config.NumHiddenLayers];
        Values = new Tensor[config.NumHiddenLayers];
        for (var l = 0; l < config.NumHiddenLayers; l++)
        {
            Keys[l] = zeros([rows, config.KeyValueHeads, maxLength, config.HeadDim], dtype: dtype, device: device);
            Values[l] = zeros([rows, config.KeyValueHeads, maxLength, config.HeadDim], dtype: dtype, device: device);
        }
    }

    public int Rows { get; }
    public int MaxLength { get; }
    public Tensor[] Keys { get; }
    public Tensor[] Values { get; }

    public long Bytes => Keys.Sum(k => k.NumberOfElements * k.ElementSize) * 2;

    /// <summary>Copies row <paramref name="from"/> into row <paramref name="to"/> (the first <paramref name="length"/> positions).</summary>
    public void MoveRow(int from, int to, int length)
    {
        if (from == to || length == 0) return;
        using var _ = no_grad();
        for (var l = 0; l < Keys.Length; l++)
        {
            using var srcK = Keys[l][from].narrow(1, 0, length);
            using var dstK = Keys[l][to].narrow(1, 0, length);
            dstK.copy_(srcK);
            using var srcV = Values[l][from].narrow(1, 0, length);
            using var dstV = Values[l][to].narrow(1, 0, length);
            dstV.copy_(srcV);
        }
    }

    public void Dispose()
    {
        foreach (var t in Keys) t.Dispose();
        foreach (var t in Values) t.Dispose();
    }
}
