using System.CommandLine;
using HuatuoAspire.Model;

namespace HuatuoAspire.Cli.Arguments;

/// <summary><c>--dtype</c> of the inference commands: how a model's matrices are held (<see cref="ModelPlacement.ForWeights"/>).</summary>
public static class WeightDTypeOption
{
    public static Option<string?> Create()
    {
        var option = new Option<string?>("--dtype")
        {
            Description = "Weights as f32, bf16 (the checkpoints' own dtype; half the memory) or int8 (CPU: Q8_0 blocks quantized at load, ~0.28 of f32); " +
                          "default auto (f32 on CPU, bf16 on CUDA).",
        };
        option.AcceptOnlyFromAmong(ModelPlacement.WeightDTypeNames);
        return option;
    }
}
