using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>
/// Models loaded with bf16 or int8 matrices (<c>--dtype</c>): the matrices stay in that dtype, the logits stay within a
/// stated tolerance of fp32 through the prefill and the decode paths, and greedy continuations are compared.
/// </summary>
public sealed class WeightStorageTests(ITestOutputHelper output)
{
    // bf16 checkpoint read as bf16 vs widened to fp32: the same numbers, summed in another order (measured ~1e-7).
    private const double Bf16Tolerance = 1e-4;
    // int8 blocks (weights, and activations rounded to Q8_0 blocks before each product, as llama.cpp does) against
    // fp32 on the tiny models (logits within ±0.5): measured max |Δ| 1.6e-2 to 2.2e-2 (weights alone: 1.1e-2 to 1.7e-2).
    private const double Int8Tolerance = 4e-2;

    private static readonly int[][] Prompts =
    [
        [256, 72, 101, 108, 108, 111, 44, 32],
        [258, 117, 115, 101, 114, 10, 87, 104, 97, 116, 32, 105, 115, 32, 66, 80, 63, 259, 10, 258],
        [67],
    ];

    private static readonly Lazy<string> Bf16Folder = new(() =>
    {
        var dir = TinyModels.NewFolder("bf16-checkpoint");
        using var model = CausalLanguageModel.FromPretrained(TinyModels.Folder(ModelArchitecture.Llama), ModelPlacement.Cpu);
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json", "generation_config.json" })
            File.Copy(Path.Combine(TinyModels.Folder(ModelArchitecture.Llama), file), Path.Combine(dir, file));
        model.SavePretrained(dir, ScalarType.BFloat16);
        return dir;
    });

    [Fact]
    public void ABf16CheckpointKeepsItsBf16MatricesAndGivesTheLogitsAndContinuationsOfItsFp32Widening()
    {
        using var f32 = CausalLanguageModel.FromPretrained(Bf16Folder.Value, ModelPlacement.ForWeights("cpu", "f32"));
        using var bf16 = CausalLanguageModel.FromPretrained(Bf16Folder.Value, ModelPlacement.ForWeights("cpu", "bf16"));
        Assert.Equal(ScalarType.BFloat16, bf16.model.layers[0].self_attn.q_proj.weight.dtype);
        Assert.Equal(ScalarType.BFloat16, bf16.model.embed_tokens.weight.dtype);
        Assert.Equal(ScalarType.Float32, bf16.model.norm.weight.dtype);
        Assert.Equal(f32.WeightBytes - bf16.WeightBytes, (f32.ParameterCount - NormElements(f32)) * 2);

        var (prefill, decode) = MaxLogitDifferences(f32, bf16);
        output.WriteLine($"bf16 vs fp32: max |Δlogit| prefill {prefill:E2}, decode {decode:E2}");
        Assert.True(prefill <= Bf16Tolerance && decode <= Bf16Tolerance, $"prefill {prefill}, decode {decode}");
        Assert.Equal(Greedy(f32), Greedy(bf16));
    }

    [Theory]
    [InlineData(ModelArchitecture.Llama)]
    [InlineData(ModelArchitecture.Qwen2)]
    public void Int8MatricesStayWithinTheStatedToleranceOfFp32AndPickItsTokenWhereverFp32IsClear(ModelArchitecture arch)
    {
        var folder = TinyModels.Folder(arch);
        using var f32 = CausalLanguageModel.FromPretrained(folder, ModelPlacement.Cpu);
        using var int8 = CausalLanguageModel.FromPretrained(folder, ModelPlacement.ForWeights("cpu", "int8"));
        Assert.Equal(ScalarType.Int8, int8.model.layers[0].mlp.down_proj.weight.dtype);
        Assert.Equal(ScalarType.Int8, int8.model.embed_tokens.weight.dtype);
        Assert.True(int8.WeightBytes < f32.WeightBytes / 3, $"int8 {int8.WeightBytes} B vs fp32 {f32.WeightBytes} B");

        var (prefill, decode) = MaxLogitDifferences(f32, int8);
        output.WriteLine($"{arch} int8 vs fp32: max |Δlogit| prefill {prefill:E2}, decode {decode:E2}");
        Assert.True(prefill <= Int8Tolerance && decode <= Int8Tolerance, $"prefill {prefill}, decode {decode}");

        // Teacher-forced on fp32's greedy continuation: where fp32's best token leads by more than twice the
        // tolerance, int8 must pick it too; report how often they agree overall.
        var continuations = Greedy(f32);
        int clear = 0, agreeClear = 0, agree = 0, total = 0;
        for (var p = 0; p < Prompts.Length; p++)
        {
            var sequence = Prompts[p].Concat(continuations[p]).ToArray();
            var a = Logits(f32, sequence);
            var b = Logits(int8, sequence);
            var vocab = f32.Config.VocabSize;
            for (var t = 0; t < sequence.Length; t++)
            {
                var rowA = a.AsSpan(t * vocab, vocab);
                var rowB = b.AsSpan(t * vocab, vocab);
                var best = ArgMax(rowA);
                var margin = rowA[best] - SecondLargest(rowA, best);
                var same = ArgMax(rowB) == best;
                total++;
                if (same) agree++;
                if (margin > 2 * Int8Tolerance)
                {
                    clear++;
                    if (same) agreeClear++;
                }
            }
        }
        output.WriteLine($"{arch} int8 picks fp32's token at {agree}/{total} positions ({agreeClear}/{clear} where fp32 leads by > {2 * Int8Tolerance})");
        Assert.Equal(clear, agreeClear);
    }

    private static long NormElements(CausalLanguageModel model) =>
        model.named_parameters().Where(p => p.parameter.dim() == 1).Sum(p => p.parameter.NumberOfElements);

    /// <summary>Max |Δ| over full-sequence logits (prefill path) and over batched decode logits (the kernels).</summary>
    private static (double Prefill, double Decode) MaxLogitDifferences(CausalLanguageModel a, CausalLanguageModel b)
    {
        double prefill = 0, decode = 0;
        foreach (var prompt in Prompts)
        {
            var x = Logits(a, prompt);
            var y = Logits(b, prompt);
            for (var i = 0; i < x.Length; i++) prefill = Math.Max(prefill, Math.Abs(x[i] - y[i]));
        }
        var logitsA = DecodeLogits(a);
        var logitsB = DecodeLogits(b);
        for (var i = 0; i < logitsA.Count; i++)
        for (var v = 0; v < logitsA[i].Length; v++)
            decode = Math.Max(decode, Math.Abs(logitsA[i][v] - logitsB[i][v]));
        return (prefill, decode);
    }

    private static float[] Logits(CausalLanguageModel model, int[] ids)
    {
        model.Rope(64);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return model.ForwardLogits(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length])).contiguous().data<float>().ToArray();
    }

    /// <summary>One decode step (one row per prompt, through the kernels) after each prompt's prefill: the logits of that step.</summary>
    private static List<float[]> DecodeLogits(CausalLanguageModel model)
    {
        model.Rope(64);
        var rows = new List<float[]>();
        using var _ = no_grad();
        foreach (var prompt in Prompts)
        {
            using var scope = NewDisposeScope();
            // The last prompt token decoded as one row on top of the rest: the kernel path at batch 1.
            var all = tensor(prompt.Select(i => (long)i).ToArray(), [1, prompt.Length]);
            var hidden = model.ForwardHidden(all).narrow(1, prompt.Length - 1, 1).contiguous();
            rows.Add(model.Logits(hidden).contiguous().data<float>().ToArray());
        }
        return rows;
    }

    private static List<List<int>> Greedy(CausalLanguageModel model)
    {
        using var decoder = new BatchedDecoder(model, Prompts.Length, 64, new HashSet<int>());
        var byId = new Dictionary<long, List<int>>();
        var order = new List<long>();
        foreach (var prompt in Prompts)
        {
            var first = decoder.Add(prompt, SamplingOptions.Greedy(16) with { StopTokenIds = new HashSet<int>() });
            byId[first.SequenceId] = [first.Token.TokenId];
            order.Add(first.SequenceId);
        }
        while (decoder.Active > 0)
            foreach (var token in decoder.Step()) byId[token.SequenceId].Add(token.Token.TokenId);
        return order.Select(id => byId[id]).ToList();
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    private static float SecondLargest(ReadOnlySpan<float> row, int except)
    {
        var second = float.NegativeInfinity;
        for (var i = 0; i < row.Length; i++) if (i != except && row[i] > second) second = row[i];
        return second;
    }
}
