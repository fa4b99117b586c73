namespace HuatuoAspire.Model.Generation;

/// <summary>
/// Picks the next token from one row of logits: temperature, top-k, top-p (nucleus, as Hugging Face's warpers:
/// the smallest set of most likely tokens whose probability reaches top_p), then a draw from the sequence's own
/// random stream. Runs on managed arrays so results do not depend on the device.
/// </summary>
public sealed class TokenSampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;
    private float[] _scratch = [];
    private int[] _order = [];

    public TokenSampler(SamplingOptions options)
    {
        options.Validate();
        _options = options;
        _random = options.Seed is { } seed ? new Random(seed) : new Random();
    }

    public SampledToken Sample(ReadOnlySpan<float> logits)
    {
        var vocab = logits.Length;
        var argmax = 0;
        var max = float.NegativeInfinity;
        for (var i = 0; i < vocab; i++)
        {
            if (logits[i] > max) { max = logits[i]; argmax = i; }
        }
        var rawLogZ = LogSumExp(logits, 1.0, max);
        if (_options.Temperature == 0)
        {
            var lp = (float)(logits[argmax] - rawLogZ);
            return new SampledToken(argmax, lp, lp);
        }

        var t = _options.Temperature;
        var logZ = LogSumExp(logits, t, max);
        if (_scratch.Length < vocab)
        {
            _scratch = new float[vocab];
            _order = new int[vocab];
        }
        // Probabilities at temperature T.
        var probs = _scratch.AsSpan(0, vocab);
        for (var i = 0; i < vocab; i++) probs[i] = (float)Math.Exp(logits[i] / t - logZ);

        var candidates = _order.AsSpan(0, vocab);
        int count;
        if (_options.TopK > 0 || _options.TopP < 1)
        {
            for (var i = 0; i < vocab; i++) candidates[i] = i;
            var local = _scratch;
            candidates.Sort((a, b) => local[b].CompareTo(local[a]) is var c && c != 0 ? c : a.CompareTo(b));
            count = _options.TopK > 0 ? Math.Min(_options.TopK, vocab) : vocab;
            if (_options.TopP < 1)
            {
                double cumulative = 0;
                for (var i = 0; i < count; i++)
                {
                    cumulative += probs[candidates[i]];
                    if (cumulative >= _options.TopP) { count = i + 1; break; }
                }
            }
        }
        else
        {
            for (var i = 0; i < vocab; i++) candidates[i] = i;
            count = vocab;
        }

        double total = 0;
        for (var i = 0; i < count; i++) total += probs[candidates[i]];
        var draw = _random.NextDouble() * total;
        var chosen = candidates[count - 1];
        double acc = 0;
        for (var i = 0; i < count; i++)
        {
            acc += probs[candidates[i]];
            if (draw < acc) { chosen = candidates[i]; break; }
        }
        return new SampledToken(chosen, (float)(logits[chosen] / t - logZ), (float)(logits[chosen] - rawLogZ));
    }

    private static double LogSumExp(ReadOnlySpan<float> logits, double temperature, float max)
    {
        double sum = 0;
        var m = max / temperature;
        for (var i = 0; i < logits.Length; i++) sum += Math.Exp(logits[i] / temperature - m);
        return m + Math.Log(sum);
    }
}
