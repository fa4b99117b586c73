namespace HuatuoAspire.Model.Modules;

/// <summary>
/// Weight-only int8 quantization in blocks of <see cref="BlockSize"/> consecutive weights of a row, each with one scale:
/// llama.cpp's Q8_0 rule (d = max|x|/127 rounded to fp16, q = round(x/d) half away from zero), so our int8 weights
/// and a Q8_0 GGUF export of the same checkpoint hold the same numbers and dequantize to the same values.
/// </summary>
public static class Int8Blocks
{
    public const int BlockSize = 32;

    /// <summary>
    /// Quantizes <paramref name="values"/> (whole rows; its length a multiple of <see cref="BlockSize"/>) into
    /// <paramref name="quants"/> and one scale per block in <paramref name="scales"/> (the fp16-rounded d, widened).
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> values, Span<sbyte> quants, Span<float> scales)
    {
        if (values.Length % BlockSize != 0) throw new ArgumentException($"{values.Length} values do not split into blocks of {BlockSize}.", nameof(values));
        for (int block = 0, at = 0; at < values.Length; block++, at += BlockSize)
        {
            var x = values.Slice(at, BlockSize);
            var amax = 0f;
            foreach (var v in x) amax = Math.Max(amax, Math.Abs(v));
            var d = amax / 127f;
            var id = d != 0 ? 1f / d : 0f;
            scales[block] = (float)(Half)d;
            var q = quants.Slice(at, BlockSize);
            for (var i = 0; i < BlockSize; i++) q[i] = (sbyte)MathF.Round(x[i] * id, MidpointRounding.AwayFromZero);
        }
    }

    /// <summary>Writes <paramref name="values"/> as GGUF Q8_0 blocks: per block the fp16 scale, then the 32 quants (34 bytes).</summary>
    public static void WriteQ8_0(Stream stream, ReadOnlySpan<float> values)
    {
        var quants = new sbyte[values.Length];
        var scales = new float[values.Length / BlockSize];
        Quantize(values, quants, scales);
        var block = new byte[2 + BlockSize];
        for (var b = 0; b < scales.Length; b++)
        {
            BitConverter.TryWriteBytes(block.AsSpan(0, 2), (Half)scales[b]);
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(quants.AsSpan(b * BlockSize, BlockSize)).CopyTo(block.AsSpan(2));
            stream.Write(block);
        }
    }
}
