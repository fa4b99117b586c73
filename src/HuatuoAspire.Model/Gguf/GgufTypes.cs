namespace HuatuoAspire.Model.Gguf;

/// <summary>Metadata value types of GGUF v3 (ggml docs/gguf.md, <c>gguf_metadata_value_type</c>).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>
/// The ggml tensor types this project writes and reads: F32, F16, BF16, and Q8_0 (blocks of 32 int8 with one fp16
/// scale, 34 bytes: the same blocks as the engine's int8 weights).
/// </summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q8_0 = 8,
    BF16 = 30,
}

/// <summary>
/// One typed metadata value. Scalars hold the matching CLR type (uint for UInt32, float for Float32, …);
/// arrays hold a CLR array of the element type (string[], int[], float[], …) and name it in <see cref="ElementType"/>.
/// </summary>
public sealed record GgufValue(GgufValueType Type, object Value, GgufValueType? ElementType = null)
{
    public static GgufValue String(string value) => new(GgufValueType.String, value);
    public static GgufValue UInt32(uint value) => new(GgufValueType.UInt32, value);
    public static GgufValue Int32(int value) => new(GgufValueType.Int32, value);
    public static GgufValue UInt64(ulong value) => new(GgufValueType.UInt64, value);
    public static GgufValue Float32(float value) => new(GgufValueType.Float32, value);
    public static GgufValue Bool(bool value) => new(GgufValueType.Bool, value);
    public static GgufValue Strings(IReadOnlyList<string> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.String);
    public static GgufValue Int32s(IReadOnlyList<int> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.Int32);
    public static GgufValue Float32s(IReadOnlyList<float> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.Float32);

    public string AsString() => Value as string ?? throw Mismatch("a string");
    public uint AsUInt32() => Value is uint v ? v : throw Mismatch("a uint32");
    public float AsFloat32() => Value is float v ? v : throw Mismatch("a float32");
    public bool AsBool() => Value is bool v ? v : throw Mismatch("a bool");
    public string[] AsStrings() => Value as string[] ?? throw Mismatch("an array of strings");
    public int[] AsInt32s() => Value as int[] ?? throw Mismatch("an array of int32");

    private InvalidOperationException Mismatch(string wanted) =>
        new($"GGUF value is {Type}{(ElementType is { } e ? $" of {e}" : "")}, not {wanted}.");
}

/// <summary>
/// A tensor's entry in the GGUF header. <see cref="Dimensions"/> are fastest-varying first (ggml order):
/// a row-major PyTorch tensor of shape [out, in] has dimensions (in, out).
/// <see cref="Offset"/> is relative to the start of the aligned data section.
/// </summary>
public sealed record GgufTensorInfo(string Name, IReadOnlyList<ulong> Dimensions, GgmlType Type, ulong Offset)
{
    public ulong ElementCount => Dimensions.Aggregate(1UL, (a, d) => a * d);

    public ulong ByteCount => Bytes(Type, ElementCount);

    /// <summary>Bytes of <paramref name="elements"/> values of <paramref name="type"/> (Q8_0: 34 per block of 32).</summary>
    public static ulong Bytes(GgmlType type, ulong elements) => type switch
    {
        GgmlType.F32 => 4 * elements,
        GgmlType.F16 or GgmlType.BF16 => 2 * elements,
        GgmlType.Q8_0 => elements / Q8Block * 34,
        _ => throw new NotSupportedException($"ggml type {type} is not supported here (F32, F16, BF16, Q8_0)."),
    };

    /// <summary>Values per Q8_0 block: rows (the first dimension) must be whole blocks.</summary>
    public const int Q8Block = 32;
}
