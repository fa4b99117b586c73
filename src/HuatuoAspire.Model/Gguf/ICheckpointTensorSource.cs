namespace HuatuoAspire.Model.Gguf;

/// <summary>
/// The tensors of a Hugging Face checkpoint as the GGUF export needs them: names, row-major shapes, and
/// values widened to float32 one tensor at a time (so an export never holds the whole model in memory).
/// </summary>
public interface ICheckpointTensorSource
{
    IReadOnlyCollection<string> Names { get; }

    /// <summary>Row-major (PyTorch) shape, slowest dimension first.</summary>
    IReadOnlyList<long> Shape(string name);

    float[] ReadFloats(string name);
}

/// <summary>An in-memory checkpoint, for models built in code and for tests.</summary>
public sealed class InMemoryTensorSource(IReadOnlyDictionary<string, (long[] Shape, float[] Values)> tensors) : ICheckpointTensorSource
{
    public IReadOnlyCollection<string> Names => tensors.Keys.ToArray();

    public IReadOnlyList<long> Shape(string name) => Get(name).Shape;

    public float[] ReadFloats(string name) => Get(name).Values;

    private (long[] Shape, float[] Values) Get(string name) =>
        tensors.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"checkpoint has no tensor '{name}'.");
}
