using static TorchSharp.torch;

namespace HuatuoAspire.Model.Modules;

/// <summary>What every layer of one forward call shares: rotary cos/sin, the attention mask and the cache use.</summary>
public sealed record LayerInputs(Tensor Cos, Tensor Sin, Tensor? Mask, bool IsCausal, CacheUse? Cache);
