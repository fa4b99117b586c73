using System.CommandLine;
using System.Diagnostics;
using HuatuoAspire.Benchmarks.Experiments;
using HuatuoAspire.Model;
using HuatuoAspire.Training.Synthetic;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary>
/// <c>huatuo demo learn</c>: runs the <see cref="LearningDemo"/> experiment (SFT then PPO on the synthetic
/// medical-calculation task, on CPU) and prints its before/after table.
/// </summary>
public static class DemoLearnCommand
{
    public static Command Create()
    {
        var d = new LearningDemoOptions { OutputDirectory = "demo-learn" };
        var output = new Option<string>("--out") { Description = "Working folder.", DefaultValueFactory = _ => d.OutputDirectory };
        var preset = new Option<string>("--preset") { Description = "Model preset from model init: tiny, small or base.", DefaultValueFactory = _ => "tiny" };
        var trainCount = new Option<int>("--train-count") { DefaultValueFactory = _ => d.TrainCount };
        var heldOutCount = new Option<int>("--held-out-count") { DefaultValueFactory = _ => d.HeldOutCount };
        var sftEpochs = new Option<int>("--sft-epochs") { DefaultValueFactory = _ => d.SftEpochs };
        var sftLr = new Option<double>("--sft-lr") { DefaultValueFactory = _ => d.SftLearningRate };
        var ppoSteps = new Option<int>("--ppo-steps") { Description = "PPO iterations.", DefaultValueFactory = _ => d.PpoSteps };
        var ppoLr = new Option<double>("--ppo-lr") { DefaultValueFactory = _ => d.PpoLearningRate };
        var kinds = new Option<string>("--kinds") { Description = $"Task kinds, comma-separated, from {string.Join(", ", MedicalCalculationTasks.Kinds)} (default: the three a ~1M-parameter model can learn to some degree in minutes).", DefaultValueFactory = _ => string.Join(',', d.Kinds) };
        var rollouts = new Option<int>("--rollout-batch-size") { Description = "Prompts per PPO iteration.", DefaultValueFactory = _ => d.RolloutBatchSize };
        var miniBatch = new Option<int>("--mini-batch-size") { Description = "Rollouts per PPO optimizer step.", DefaultValueFactory = _ => d.MiniBatchSize };
        var ppoEpochs = new Option<int>("--ppo-epochs") { Description = "Passes over each rollout batch.", DefaultValueFactory = _ => d.PpoEpochs };
        var gaeLambda = new Option<double>("--gae-lambda") { Description = "GAE λ for PPO (1: the verifier's score reaches the tokens that decide it, tens of tokens before the end, before the value model can carry it; the paper uses 0.95).", DefaultValueFactory = _ => d.GaeLambda };
        var samplesPerPrompt = new Option<int>("--samples-per-prompt") { Description = "Responses sampled per prompt in PPO.", DefaultValueFactory = _ => d.SamplesPerPrompt };
        var flawed = new Option<double>("--flawed-fraction") { Description = "Fraction of the SFT worked solutions (of the kinds that have one) replaced by a flawed one with a classic wrong step (conversions: 1 g = 100 mg); ground truths stay right (0: all solutions right).", DefaultValueFactory = _ => d.FlawedFraction };
        var valueLr = new Option<double>("--value-lr") { Description = "Learning rate of the PPO value model.", DefaultValueFactory = _ => d.ValueLearningRate };
        var valueWarmup = new Option<int>("--value-warmup") { Description = "PPO iterations at the start in which only the value model learns.", DefaultValueFactory = _ => d.ValueWarmupIterations };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => d.Seed };
        var evalSamples = new Option<int>("--eval-samples") { Description = "Responses sampled per held-out problem for the figures (more samples, less noise).", DefaultValueFactory = _ => d.EvalSamples };
        var sftModel = new Option<string?>("--sft-model") { Description = "Skip SFT (and the initial model's row) and start PPO from this SFT model folder (e.g. DIR/sft/model of an earlier run with the same seed and counts)." };
        var command = new Command("learn", "End-to-end on CPU: SFT lowers held-out loss, PPO raises held-out accuracy and reward; prints a before/after table.")
        {
            output, preset, trainCount, heldOutCount, sftEpochs, sftLr, ppoSteps, ppoLr, rollouts, samplesPerPrompt, miniBatch, ppoEpochs, gaeLambda, valueLr, valueWarmup, flawed, seed, kinds, evalSamples, sftModel,
        };
        command.SetAction(async (parse, ct) =>
        {
            var clock = Stopwatch.StartNew();
            if (!Enum.TryParse<ModelPreset>(parse.GetValue(preset), ignoreCase: true, out var modelPreset))
            {
                AnsiConsole.MarkupLineInterpolated($"[red]--preset must be tiny, small or base.[/]");
                return 2;
            }
            var options = new LearningDemoOptions
            {
                OutputDirectory = parse.GetValue(output)!, Preset = modelPreset, TrainCount = parse.GetValue(trainCount), HeldOutCount = parse.GetValue(heldOutCount),
                SftEpochs = parse.GetValue(sftEpochs), SftLearningRate = parse.GetValue(sftLr), PpoSteps = parse.GetValue(ppoSteps), PpoLearningRate = parse.GetValue(ppoLr),
                RolloutBatchSize = parse.GetValue(rollouts), MiniBatchSize = parse.GetValue(miniBatch), PpoEpochs = parse.GetValue(ppoEpochs), GaeLambda = parse.GetValue(gaeLambda),
                SamplesPerPrompt = parse.GetValue(samplesPerPrompt), FlawedFraction = parse.GetValue(flawed), ValueLearningRate = parse.GetValue(valueLr),
                ValueWarmupIterations = parse.GetValue(valueWarmup), Seed = parse.GetValue(seed), EvalSamples = parse.GetValue(evalSamples), SftModel = parse.GetValue(sftModel),
                Kinds = parse.GetValue(kinds)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            };
            if (options.Validate() is [var problem, ..])
            {
                AnsiConsole.MarkupLineInterpolated($"[red]{problem}[/]");
                return 2;
            }
            LearningDemoResult result;
            try
            {
                result = await new LearningDemo(options).RunAsync(TrainCommand.WithProgress,
                    line => AnsiConsole.MarkupLineInterpolated($"[grey]{line} ({clock.Elapsed:mm\\:ss})[/]"), ct);
            }
            catch (ArgumentException e)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]{e.Message}[/]");
                return 2;
            }

            var table = new Table().AddColumns("stage", "held-out loss", "mean reward", "accuracy", "well-formed", "mean response tokens");
            foreach (var (stage, loss, score) in result.Stages)
                table.AddRow(stage, $"{loss:0.0000}", $"{score.MeanReward:0.000}", $"{score.Accuracy:P1}", $"{score.WellFormed:P1}", $"{score.MeanResponseTokens:0.0}");
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"{result.HeldOutProblems} held-out problems × {options.EvalSamples} samples, {result.TrainingProblems} training problems ({string.Join(", ", options.Kinds)}; {result.FlawedSolutions} of the SFT solutions flawed), preset {modelPreset}, seed {options.Seed}, sampling T={result.Temperature}; total {clock.Elapsed:mm\\:ss}.");
            return 0;
        });
        var demo = new Command("demo", "Demonstrations on models made here.");
        demo.Subcommands.Add(command);
        return demo;
    }
}
