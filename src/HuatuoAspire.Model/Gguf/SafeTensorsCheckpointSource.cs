using HuatuoAspire.Model.Checkpoints;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.Gguf;

/// <summary>A Hugging Face folder's safetensors (single or sharded, F32/F16/BF16), read one tensor at a time as float32.</summary>
public sealed class SafeTensorsCheckpointSource(HuggingFaceCheckpoint checkpoint) : ICheckpointTensorSource
{
    public IReadOnlyCollection<string> Names => checkpoint.Names;

    public IReadOnlyList<long> Shape(string name) => checkpoint.Info(name).Shape;

    public float[] ReadFloats(string name)
    {
        using var scope = NewDisposeScope();
        var values = checkpoint.Read(name).to_type(ScalarType.Float32).contiguous();
        return values.data<float>().ToArray();
    }
}
