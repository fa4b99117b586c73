using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// The token embedding (<c>model.embed_tokens.weight</c>, [vocab, hidden]): <c>nn.Embedding</c>'s parameter and
/// initialisation (N(0, 1)), with the matrix also storable as bf16 or int8 (<see cref="WeightStorage"/>); rows come
/// out in the compute dtype. A tied head reads the same matrix through <see cref="Projection.Linear(Tensor, Tensor, Tensor?, Tensor?)"/>.
/// </summary>
public sealed class TokenEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly ScalarType _dtype;
#pragma warning disable IDE1006 // field names are the Hugging Face state-dict keys
    public readonly Parameter weight;
    /// <summary>With int8 storage: one scale per 32 values of a row, [vocab, hidden / 32].</summary>
    public readonly Tensor? weight_scales;
#pragma warning restore IDE1006

    public TokenEmbedding(long vocab, long hidden, Device? device, ScalarType dtype) : base(nameof(TokenEmbedding))
    {
        _dtype = dtype;
        var storage = Projection.CurrentStorage(device, dtype);
        using (no_grad())
        {
            if (storage == WeightStorage.Compute)
            {
                var w = empty([vocab, hidden], dtype: dtype, device: device);
                if (!Projection.WeightsArePending) w.normal_();
                weight = new Parameter(w);
            }
            else
            {
                weight = new Parameter(empty([vocab, hidden], dtype: storage == WeightStorage.Int8 ? ScalarType.Int8 : ScalarType.BFloat16, device: device),
                    requires_grad: false);
                if (storage == WeightStorage.Int8)
                {
                    if (hidden % Int8Blocks.BlockSize != 0)
                        throw new ModelFormatException($"int8 weights need a hidden size in blocks of {Int8Blocks.BlockSize}; this model has {hidden}.");
                    weight_scales = empty([vocab, hidden / Int8Blocks.BlockSize], dtype: ScalarType.Float32, device: device);
                }
            }
        }
        RegisterComponents();
    }

    /// <summary>The rows of <paramref name="ids"/> (any shape of int64): [..., hidden] in the compute dtype.</summary>
    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var flat = ids.reshape(-1);
        var rows = weight.index_select(0, flat);
        if (rows.dtype != _dtype) rows = Projection.Dequantize(rows, weight_scales?.index_select(0, flat), _dtype);
        var shape = ids.shape.Append(weight.shape[1]).ToArray();
        return rows.view(shape).MoveToOuterDisposeScope();
    }
}
