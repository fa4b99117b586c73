using HuatuoAspire.Model;
using HuatuoAspire.Model.Modules;
using static TorchSharp.torch;

namespace HuatuoAspire.Training.Sft;

/// <summary>The forward pass and the summed next-token cross-entropy shared by SFT training and evaluation.</summary>
public static class CausalLmLoss
{
    /// <summary>Hidden states for a micro-batch: padded (attention mask) or packed (own positions and mask).</summary>
    public static Tensor Hidden(CausalLanguageModel model, SftMicroBatch batch)
    {
        if (batch.PackedMask is null || batch.Positions is null) return model.ForwardHidden(batch.InputIds, batch.AttentionMask);
        using var scope = NewDisposeScope();
        var (cos, sin) = model.Rope((int)batch.InputIds.shape[1]).For(batch.Positions, model.Placement.DType);
        return model.model.forward(batch.InputIds, new LayerInputs(cos, sin, batch.PackedMask, IsCausal: true, Cache: null)).MoveToOuterDisposeScope();
    }

    /// <summary>Sum over labelled tokens of −log p(label | prefix), in fp32.</summary>
    public static Tensor SummedLoss(CausalLanguageModel model, SftMicroBatch batch)
    {
        using var scope = NewDisposeScope();
        var hidden = Hidden(model, batch);
        var t = hidden.shape[1];
        var logits = model.Logits(hidden.narrow(1, 0, t - 1)).to(ScalarType.Float32);
        var targets = batch.Labels.narrow(1, 1, t - 1);
        var loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[2]), targets.reshape(-1),
            ignore_index: SftExampleEncoder.IgnoreIndex, reduction: nn.Reduction.Sum);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>Mean per-token loss of <paramref name="examples"/> (no gradients), e.g. on a held-out split.</summary>
    public static double MeanLoss(CausalLanguageModel model, IReadOnlyList<EncodedExample> examples, int microBatchSize = 8)
    {
        var plan = new SftBatchPlan(examples, microBatchSize, 1, 0, pack: false, maxSeqLen: int.MaxValue);
        var wasTraining = model.training;
        model.eval();
        double sum = 0;
        long count = 0;
        using (no_grad())
        {
            for (var i = 0; i < plan.Count; i++)
            {
                using var batch = plan.Materialise(i, model.Placement.Device, 0);
                using var loss = SummedLoss(model, batch);
                sum += loss.item<float>();
                count += batch.LabelTokens;
            }
        }
        if (wasTraining) model.train();
        return count == 0 ? double.NaN : sum / count;
    }
}
