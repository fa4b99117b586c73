using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// The transformer trunk (<c>model.*</c> in the checkpoint): token embeddings, the decoder layers, the final norm.
/// </summary>
public sealed class DecoderModel : nn.Module<Tensor, LayerInputs, Tensor>
{
#pragma warning disable IDE1006 // field names are the Hugging Face state-dict keys
    public readonly TokenEmbedding embed_tokens;
    public readonly ModuleList<DecoderLayer> layers;
    public readonly RmsNorm norm;
#pragma warning restore IDE1006

    public DecoderModel(ModelConfig c, Device? device, ScalarType dtype) : base(nameof(DecoderModel))
    {
        embed_tokens = new TokenEmbedding(c.VocabSize, c.HiddenSize, device, dtype);
        layers = nn.ModuleList(Enumerable.Range(0, c.NumHiddenLayers).Select(i => new DecoderLayer(c, i, device, dtype)).ToArray());
        norm = new RmsNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor inputIds, LayerInputs inputs)
    {
        using var scope = NewDisposeScope();
        var h = embed_tokens.forward(inputIds);
        foreach (var layer in layers) h = layer.forward(h, inputs);
        return norm.forward(h).MoveToOuterDisposeScope();
    }
}
