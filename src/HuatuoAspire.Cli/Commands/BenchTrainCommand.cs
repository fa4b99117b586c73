using System.CommandLine;
using System.Diagnostics;
using HuatuoAspire.Model;
using HuatuoAspire.Training.Optimization;
using HuatuoAspire.Training.Sft;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace HuatuoAspire.Cli.Commands;

/// <summary>
/// <c>huatuo bench train</c>: SFT step throughput (forward, backward, AdamW) in tokens/s and achieved FLOP/s
/// (6 · parameters · tokens/s) against the matrix-multiply peak TorchSharp reaches on the same machine in the same run.
/// </summary>
public static class BenchTrainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face model folder.", Required = true };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 4 };
        var length = new Option<int>("--seq-len") { DefaultValueFactory = _ => 512 };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 5 };
        var device = new Option<string?>("--device");
        var dtype = new Option<string?>("--dtype");
        var command = new Command("train", "SFT step throughput and achieved FLOP/s vs the matmul peak.") { model, batch, length, steps, device, dtype };
        command.SetAction(parse =>
        {
            var placement = ModelPlacement.Parse(parse.GetValue(device), parse.GetValue(dtype));
            using var lm = CausalLanguageModel.FromPretrained(parse.GetValue(model)!, placement);
            lm.train();
            var (b, t, n) = (parse.GetValue(batch), parse.GetValue(length), parse.GetValue(steps));
            using var optimizer = AdamWGroups.Create(lm.named_parameters(), 1e-5, 0.1);
            manual_seed(0);
            using var ids = randint(0, lm.Config.VocabSize, [b, t], dtype: ScalarType.Int64, device: placement.Device);
            var labels = ids.clone();
            using var batchData = new SftMicroBatch(ids.clone(), labels, ones([b, t], dtype: ScalarType.Int64, device: placement.Device), null, null, (long)b * (t - 1), (long)b * t);
            void Step()
            {
                using var scope = NewDisposeScope();
                optimizer.zero_grad();
                (CausalLmLoss.SummedLoss(lm, batchData) / batchData.LabelTokens).backward();
                optimizer.step();
                Synchronize(placement.Device);
            }
            Step();
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < n; i++) Step();
            clock.Stop();
            var tokensPerSecond = (double)b * t * n / clock.Elapsed.TotalSeconds;
            var achieved = 6.0 * lm.ParameterCount * tokensPerSecond;
            var peak = MatmulPeak(placement);

            var table = new Table().AddColumns("figure", "value");
            table.AddRow("parameters", $"{lm.ParameterCount:N0}");
            table.AddRow("device / dtype / threads", $"{placement.Device.type} / {placement.DType} / {get_num_threads()}");
            table.AddRow("batch x seq", $"{b} x {t}");
            table.AddRow("SFT step", $"{clock.Elapsed.TotalSeconds / n:0.000} s");
            table.AddRow("tokens/s", $"{tokensPerSecond:0}");
            table.AddRow("achieved (6·N·tokens/s)", $"{achieved / 1e9:0.00} GFLOP/s");
            table.AddRow("TorchSharp matmul peak", $"{peak / 1e9:0.00} GFLOP/s");
            table.AddRow("fraction of peak", $"{achieved / peak:P1}");
            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize();
    }

    /// <summary>Best of several square matrix products at the model's dtype: 2·n³ FLOP each.</summary>
    private static double MatmulPeak(ModelPlacement placement)
    {
        const int n = 2048;
        using var a = randn([n, n], dtype: placement.DType, device: placement.Device);
        using var b = randn([n, n], dtype: placement.DType, device: placement.Device);
        double best = 0;
        for (var i = 0; i < 6; i++)
        {
            var clock = Stopwatch.StartNew();
            using (var c = a.mm(b)) Synchronize(placement.Device);
            best = Math.Max(best, 2.0 * n * n * n / clock.Elapsed.TotalSeconds);
        }
        return best;
    }
}
