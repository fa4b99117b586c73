namespace HuatuoAspire.Model.Gguf;

/// <summary>Constants of the GGUF container, version 3 (ggml docs/gguf.md).</summary>
public static class GgufFormat
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;
    public const uint Version = 3;
    public const uint DefaultAlignment = 32;
    public const string AlignmentKey = "general.alignment";

    public static ulong AlignUp(ulong offset, ulong alignment) => (offset + alignment - 1) / alignment * alignment;
}
