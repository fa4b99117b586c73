using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HuatuoAspire.Model.Modules;

/// <summary>Grouped-query self-attention (Llama; Qwen2 adds q/k/v biases). Field names are the Hugging Face keys.</summary>
public sealed class Attention : nn.Module<Tensor, LayerInputs, int, Tensor>
{
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;
#pragma warning disable IDE1006 // field names are the Hugging Face state-dict keys
    public readonly Projection q_proj;
    public readonly Projection k_proj;
    public readonly Projection v_proj;
    public readonly Projection o_proj;
#pragma warning restore IDE1006

    public Attention(ModelConfig c, Device? device, ScalarType dtype) : base(nameof(Attention))
    {
        _heads = c.NumAttentionHeads;
        _kvHeads = c.KeyValueHeads;
        _headDim = c.HeadDim;
        q_proj = new Projection(c.HiddenSize, _heads * _headDim, c.QkvBias, device, dtype);
        k_proj = new Projection(c.HiddenSize, _kvHeads * _headDim, c.QkvBias, device, dtype);
        v_proj = new Projection(c.HiddenSize, _kvHeads * _headDim, c.QkvBias, device, dtype);
        o_proj = new Projection(_heads * _headDim, c.HiddenSize, c.OutputBias, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, LayerInputs inputs, int layer)
    {
        using var scope = NewDisposeScope();
        var (b, t) = (x.shape[0], x.shape[1]);
        var q = q_proj.forward(x).view(b, t, _heads, _headDim).transpose(1, 2);
        var k = k_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        q = RotaryEmbedding.Apply(q, inputs.Cos, inputs.Sin);
        k = RotaryEmbedding.Apply(k, inputs.Cos, inputs.Sin);

        Tensor output;
        if (inputs.Cache is DecodeCache decode)
        {
            // Write this step's key/value at each row's own position, then attend over the cached prefix.
            var keys = decode.Cache.Keys[layer].narrow(0, 0, decode.Rows);
            var values = decode.Cache.Values[layer].narrow(0, 0, decode.Rows);
            var index = decode.Positions.view(decode.Rows, 1, 1, 1).expand(decode.Rows, _kvHeads, 1, _headDim);
            keys.scatter_(2, index, k);
            values.scatter_(2, index, v);
            var attendK = keys.narrow(2, 0, decode.AttendLength);
            var attendV = values.narrow(2, 0, decode.AttendLength);
            // Grouped-query trick for one new token: the query heads sharing a kv head become that head's "positions",
            // so the cached keys are never repeated.
            var grouped = q.view(b, _kvHeads, _heads / _kvHeads, _headDim);
            output = F.scaled_dot_product_attention(grouped, attendK, attendV, decode.Mask)
                .view(b, _heads, 1, _headDim);
        }
        else
        {
            if (inputs.Cache is PrefillCache prefill)
            {
                prefill.Cache.Keys[layer][prefill.Row].narrow(1, 0, t).copy_(k[0]);
                prefill.Cache.Values[layer][prefill.Row].narrow(1, 0, t).copy_(v[0]);
            }
            var repeat = _heads / _kvHeads;
            if (repeat > 1)
            {
                k = k.unsqueeze(2).expand(b, _kvHeads, repeat, t, _headDim).reshape(b, _heads, t, _headDim);
                v = v.unsqueeze(2).expand(b, _kvHeads, repeat, t, _headDim).reshape(b, _heads, t, _headDim);
            }
            output = F.scaled_dot_product_attention(q, k, v, inputs.Mask, is_casual: inputs.Mask is null && inputs.IsCausal);
        }
        var merged = output.transpose(1, 2).reshape(b, t, _heads * _headDim);
        return o_proj.forward(merged).MoveToOuterDisposeScope();
    }
}
