using System.Text.Json.Nodes;

namespace HuatuoAspire.Model.UnitTests.Gguf;

/// <summary>
/// A plain float64 forward pass of a Hugging Face Llama/Qwen2 checkpoint, written from the transformers modelling code
/// (rotate-halves RoPE, Llama-3 inverse-frequency scaling, GQA, SwiGLU, RMSNorm). It shares no code with the exporter,
/// so llama.cpp agreeing with it on an exported file shows that the export's names, layout and Q/K permutation are right.
/// </summary>
public sealed class ReferenceForward(JsonObject config, IReadOnlyDictionary<string, (long[] Shape, float[] Values)> weights)
{
    private readonly int _hidden = config["hidden_size"]!.GetValue<int>();
    private readonly int _heads = config["num_attention_heads"]!.GetValue<int>();
    private readonly int _kvHeads = config["num_key_value_heads"]!.GetValue<int>();
    private readonly int _layers = config["num_hidden_layers"]!.GetValue<int>();
    private readonly double _eps = Num(config["rms_norm_eps"]);
    private readonly double _theta = Num(config["rope_theta"]);
    private readonly bool _tied = config["tie_word_embeddings"]!.GetValue<bool>();

    /// <summary>Logits at every position of <paramref name="ids"/>.</summary>
    public double[][] Logits(IReadOnlyList<int> ids)
    {
        var headDim = _hidden / _heads;
        var invFreq = InverseFrequencies(headDim);
        var x = ids.Select(id => Row("model.embed_tokens.weight", id)).ToArray();
        for (var l = 0; l < _layers; l++)
        {
            var p = $"model.layers.{l}.";
            var h = x.Select(r => RmsNorm(r, W(p + "input_layernorm.weight"))).ToArray();
            var q = h.Select(r => Linear(p + "self_attn.q_proj", r)).ToArray();
            var k = h.Select(r => Linear(p + "self_attn.k_proj", r)).ToArray();
            var v = h.Select(r => Linear(p + "self_attn.v_proj", r)).ToArray();
            for (var t = 0; t < x.Length; t++)
            {
                RotateHalves(q[t], _heads, headDim, t, invFreq);
                RotateHalves(k[t], _kvHeads, headDim, t, invFreq);
            }
            for (var t = 0; t < x.Length; t++)
            {
                var attended = new double[_heads * headDim];
                for (var head = 0; head < _heads; head++)
                {
                    var kvHead = head / (_heads / _kvHeads);
                    var scores = new double[t + 1];
                    for (var s = 0; s <= t; s++)
                    {
                        double dot = 0;
                        for (var d = 0; d < headDim; d++) dot += q[t][head * headDim + d] * k[s][kvHead * headDim + d];
                        scores[s] = dot / Math.Sqrt(headDim);
                    }
                    var max = scores.Max();
                    var weightsSum = 0.0;
                    for (var s = 0; s <= t; s++) weightsSum += scores[s] = Math.Exp(scores[s] - max);
                    for (var s = 0; s <= t; s++)
                    for (var d = 0; d < headDim; d++)
                        attended[head * headDim + d] += scores[s] / weightsSum * v[s][kvHead * headDim + d];
                }
                Add(x[t], Linear(p + "self_attn.o_proj", attended));
            }
            for (var t = 0; t < x.Length; t++)
            {
                var n = RmsNorm(x[t], W(p + "post_attention_layernorm.weight"));
                var gate = Linear(p + "mlp.gate_proj", n);
                var up = Linear(p + "mlp.up_proj", n);
                for (var i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
                Add(x[t], Linear(p + "mlp.down_proj", gate));
            }
        }
        var head_ = _tied ? "model.embed_tokens" : "lm_head";
        return x.Select(r => Linear(head_, RmsNorm(r, W("model.norm.weight")))).ToArray();
    }

    private double[] InverseFrequencies(int headDim)
    {
        var inv = new double[headDim / 2];
        for (var i = 0; i < inv.Length; i++) inv[i] = 1.0 / Math.Pow(_theta, 2.0 * i / headDim);
        if (config["rope_scaling"] is JsonObject s && s["rope_type"]?.GetValue<string>() == "llama3")
        {
            // transformers' _compute_llama3_parameters.
            var factor = Num(s["factor"]);
            var low = Num(s["low_freq_factor"]);
            var high = Num(s["high_freq_factor"]);
            var oldContext = Num(s["original_max_position_embeddings"]);
            for (var i = 0; i < inv.Length; i++)
            {
                var wavelen = 2 * Math.PI / inv[i];
                if (wavelen > oldContext / low) inv[i] /= factor;
                else if (wavelen >= oldContext / high)
                {
                    var smooth = (oldContext / wavelen - low) / (high - low);
                    inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
                }
            }
        }
        return inv;
    }

    private static double Num(JsonNode? node) =>
        double.Parse(node?.ToJsonString() ?? throw new KeyNotFoundException("config value missing"), System.Globalization.CultureInfo.InvariantCulture);

    private static void RotateHalves(double[] vector, int heads, int headDim, int position, double[] invFreq)
    {
        var half = headDim / 2;
        for (var h = 0; h < heads; h++)
        for (var i = 0; i < half; i++)
        {
            var angle = position * invFreq[i];
            var (a, b) = (vector[h * headDim + i], vector[h * headDim + half + i]);
            vector[h * headDim + i] = a * Math.Cos(angle) - b * Math.Sin(angle);
            vector[h * headDim + half + i] = b * Math.Cos(angle) + a * Math.Sin(angle);
        }
    }

    private double[] RmsNorm(double[] x, float[] weight)
    {
        var meanSquare = x.Sum(v => v * v) / x.Length;
        var scale = 1 / Math.Sqrt(meanSquare + _eps);
        return x.Select((v, i) => v * scale * weight[i]).ToArray();
    }

    private double[] Linear(string prefix, double[] input)
    {
        var (shape, w) = weights[prefix + ".weight"];
        var (rows, cols) = ((int)shape[0], (int)shape[1]);
        var bias = weights.TryGetValue(prefix + ".bias", out var b) ? b.Values : null;
        var output = new double[rows];
        for (var r = 0; r < rows; r++)
        {
            double sum = bias?[r] ?? 0;
            for (var c = 0; c < cols; c++) sum += w[r * cols + c] * input[c];
            output[r] = sum;
        }
        return output;
    }

    private double[] Row(string name, int row)
    {
        var (shape, w) = weights[name];
        var cols = (int)shape[1];
        return Enumerable.Range(0, cols).Select(c => (double)w[row * cols + c]).ToArray();
    }

    private float[] W(string name) => weights[name].Values;

    private static void Add(double[] target, double[] delta)
    {
        for (var i = 0; i < target.Length; i++) target[i] += delta[i];
    }
}
