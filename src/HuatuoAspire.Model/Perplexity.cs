using static TorchSharp.torch;

namespace HuatuoAspire.Model;

/// <summary>Perplexity of a model on a token sequence: exp of the mean negative log-likelihood of each next token.</summary>
public static class Perplexity
{
    /// <summary>Teacher-forced over <paramref name="ids"/> in windows of at most <paramref name="window"/> tokens.</summary>
    public static double Of(CausalLanguageModel model, IReadOnlyList<int> ids, int window = 512)
    {
        if (ids.Count < 2) throw new ArgumentException("perplexity needs at least two tokens.", nameof(ids));
        model.Rope(Math.Min(window, ids.Count));
        double nll = 0;
        long count = 0;
        using var _ = no_grad();
        for (var start = 0; start < ids.Count - 1; start += window - 1)
        {
            var length = Math.Min(window, ids.Count - start);
            if (length < 2) break;
            using var scope = NewDisposeScope();
            var input = tensor(ids.Skip(start).Take(length).Select(i => (long)i).ToArray(), [1, length], device: model.Placement.Device);
            var logits = model.ForwardLogits(input).to_type(ScalarType.Float32);
            var logProbs = logits.narrow(1, 0, length - 1).log_softmax(-1);
            var targets = input.narrow(1, 1, length - 1).unsqueeze(-1);
            nll -= logProbs.gather(-1, targets).sum().item<float>();
            count += length - 1;
        }
        return Math.Exp(nll / count);
    }
}
