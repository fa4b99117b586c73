using System.CommandLine;
using System.Diagnostics;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Reasoning.Verification;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Ppo;
using HuatuoAspire.Training.Sft;
using HuatuoAspire.Training.Synthetic;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary>
/// <c>huatuo demo learn</c>: shows on CPU that both stages learn. A fresh model from <c>model init</c> is fine-tuned on
/// worked solutions of the synthetic medical-calculation task, then trained with PPO from that checkpoint; held-out
/// loss, verifier accuracy and mean reward are measured before and after with the same seeds and sampling. Part of the
/// SFT solutions can carry a classic wrong step (<c>--flawed-fraction</c>), as unverified reasoning paths do: SFT
/// imitates it, and PPO's verifier reward is what takes it out again.
/// </summary>
public static class DemoLearnCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Working folder.", DefaultValueFactory = _ => "demo-learn" };
        var preset = new Option<string>("--preset") { Description = "Model preset from model init: tiny, small or base.", DefaultValueFactory = _ => "tiny" };
        var trainCount = new Option<int>("--train-count") { DefaultValueFactory = _ => 3000 };
        var heldOutCount = new Option<int>("--held-out-count") { DefaultValueFactory = _ => 256 };
        var sftEpochs = new Option<int>("--sft-epochs") { DefaultValueFactory = _ => 5 };
        var sftLr = new Option<double>("--sft-lr") { DefaultValueFactory = _ => 3e-3 };
        var ppoSteps = new Option<int>("--ppo-steps") { Description = "PPO iterations.", DefaultValueFactory = _ => 30 };
        var ppoLr = new Option<double>("--ppo-lr") { DefaultValueFactory = _ => 2e-5 };
        var kinds = new Option<string>("--kinds") { Description = $"Task kinds, comma-separated, from {string.Join(", ", MedicalCalculationTasks.Kinds)} (default: the three a ~1M-parameter model can learn to some degree in minutes).", DefaultValueFactory = _ => "convert,dose,infusion" };
        var rollouts = new Option<int>("--rollout-batch-size") { Description = "Prompts per PPO iteration.", DefaultValueFactory = _ => 16 };
        var miniBatch = new Option<int>("--mini-batch-size") { Description = "Rollouts per PPO optimizer step.", DefaultValueFactory = _ => 32 };
        var ppoEpochs = new Option<int>("--ppo-epochs") { Description = "Passes over each rollout batch.", DefaultValueFactory = _ => 2 };
        var gaeLambda = new Option<double>("--gae-lambda") { Description = "GAE λ for PPO (1: the verifier's score reaches the tokens that decide it, tens of tokens before the end, before the value model can carry it; the paper uses 0.95).", DefaultValueFactory = _ => 1.0 };
        var samplesPerPrompt = new Option<int>("--samples-per-prompt") { Description = "Responses sampled per prompt in PPO.", DefaultValueFactory = _ => 4 };
        var flawed = new Option<double>("--flawed-fraction") { Description = "Fraction of the SFT worked solutions (of the kinds that have one) replaced by a flawed one with a classic wrong step (conversions: 1 g = 100 mg); ground truths stay right (0: all solutions right).", DefaultValueFactory = _ => 0.5 };
        var valueLr = new Option<double>("--value-lr") { Description = "Learning rate of the PPO value model.", DefaultValueFactory = _ => 5e-4 };
        var valueWarmup = new Option<int>("--value-warmup") { Description = "PPO iterations at the start in which only the value model learns.", DefaultValueFactory = _ => 4 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 7 };
        var evalSamples = new Option<int>("--eval-samples") { Description = "Responses sampled per held-out problem for the figures (more samples, less noise).", DefaultValueFactory = _ => 4 };
        var sftModel = new Option<string?>("--sft-model") { Description = "Skip SFT (and the initial model's row) and start PPO from this SFT model folder (e.g. DIR/sft/model of an earlier run with the same seed and counts)." };
        var command = new Command("learn", "End-to-end on CPU: SFT lowers held-out loss, PPO raises held-out accuracy and reward; prints a before/after table.")
        {
            output, preset, trainCount, heldOutCount, sftEpochs, sftLr, ppoSteps, ppoLr, rollouts, samplesPerPrompt, miniBatch, ppoEpochs, gaeLambda, valueLr, valueWarmup, flawed, seed, kinds, evalSamples, sftModel,
        };
        command.SetAction(async (parse, ct) =>
        {
            var clock = Stopwatch.StartNew();
            var root = Path.GetFullPath(parse.GetValue(output)!);
            var s = parse.GetValue(seed);
            if (!Enum.TryParse<ModelPreset>(parse.GetValue(preset), ignoreCase: true, out var modelPreset))
            {
                AnsiConsole.MarkupLineInterpolated($"[red]--preset must be tiny, small or base.[/]");
                return 2;
            }
            var taskKinds = parse.GetValue(kinds)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var unknown = taskKinds.Except(MedicalCalculationTasks.Kinds).ToList();
            if (taskKinds.Length == 0 || unknown.Count > 0)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]--kinds: unknown kind(s) {string.Join(", ", unknown)}; known: {string.Join(", ", MedicalCalculationTasks.Kinds)}.[/]");
                return 2;
            }
            var flawedFraction = parse.GetValue(flawed);
            if (!(flawedFraction is >= 0 and <= 1))
            {
                AnsiConsole.MarkupLineInterpolated($"[red]--flawed-fraction must lie in [[0, 1]].[/]");
                return 2;
            }
            var samples = parse.GetValue(evalSamples);
            if (samples < 1)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]--eval-samples must be at least 1.[/]");
                return 2;
            }
            var sftFrom = parse.GetValue(sftModel);
            if (sftFrom is not null && !File.Exists(Path.Combine(sftFrom, "config.json")))
            {
                AnsiConsole.MarkupLineInterpolated($"[red]--sft-model {sftFrom}: no config.json there.[/]");
                return 2;
            }
            var baseDir = Path.Combine(root, "init");
            ModelPresets.Create(baseDir, ModelArchitecture.Llama, modelPreset, "byte", s).Dispose();
            IReadOnlyList<MedicalCalculationProblem> train, heldOut;
            try { (train, heldOut) = MedicalCalculationTasks.Splits(parse.GetValue(trainCount), parse.GetValue(heldOutCount), s, taskKinds); }
            catch (InvalidOperationException e)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]{e.Message}[/]");
                return 2;
            }
            var sftFile = Path.Combine(root, "sft-train.jsonl");
            var ppoFile = Path.Combine(root, "ppo-train.jsonl");
            var sftTrain = MedicalCalculationTasks.WithFlawedSolutions(train, flawedFraction, s);
            TrainingDataFile.WriteSft(sftFile, sftTrain);
            TrainingDataFile.WritePpo(ppoFile, train);
            TrainingDataFile.WriteSft(Path.Combine(root, "held-out.jsonl"), heldOut);
            var heldOutSft = heldOut.Select(p => new SftRecord(p.Question, p.Thinking, p.FinalResponse)).ToList();
            // Each held-out problem is answered `samples` times with its own seeds, the same for every stage.
            var heldOutPpo = Enumerable.Repeat(heldOut, samples).SelectMany(x => x).Select(p => new PpoRecord(p.Question, p.GroundTruth)).ToList();
            var tokenizer = HfTokenizer.FromFolder(baseDir);
            var encoder = new SftExampleEncoder(tokenizer, 512);
            var heldOutEncoded = heldOutSft.Select(encoder.Encode).ToList();
            var reward = new HuatuoReward(new RuleVerifier());
            const double temperature = 0.5;
            const int maxNew = 200;
            var evalSeed = s + 1000;

            var rows = new List<(string Stage, double Loss, PolicyScore Score)>();
            async Task Measure(string stage, string dir)
            {
                using var model = CausalLanguageModel.FromPretrained(dir, ModelPlacement.Cpu);
                var loss = CausalLmLoss.MeanLoss(model, heldOutEncoded);
                var score = await PolicyEvaluation.ScoreAsync(model, tokenizer, heldOutPpo, reward, temperature, maxNew, evalSeed, ct);
                rows.Add((stage, loss, score));
                AnsiConsole.MarkupLineInterpolated($"[grey]{stage}: held-out loss {loss:0.0000}, reward {score.MeanReward:0.000}, accuracy {score.Accuracy:P1} ({clock.Elapsed:mm\\:ss})[/]");
            }

            // With --sft-model the run is about PPO: the initial row (a random model) is left out.
            if (sftFrom is null) await Measure("initial model", baseDir);
            string sftModelDir;
            if (sftFrom is null)
            {
                var sft = new SftTrainer(new SftOptions
                {
                    LearningRate = parse.GetValue(sftLr), Epochs = parse.GetValue(sftEpochs), BatchSize = 16, MicroBatchSize = 16,
                    MaxSeqLen = 512, WarmupRatio = 0.05, Seed = s, Placement = ModelPlacement.Cpu,
                });
                var sftRecords = TrainingDataFile.ReadSft(sftFile);
                var sftResult = default(SftResult)!;
                await TrainCommand.WithProgress("SFT", "loss", p => sftResult = sft.Run(baseDir, sftRecords, Path.Combine(root, "sft"), p, cancellationToken: ct));
                sftModelDir = sftResult.ModelDirectory;
            }
            else
            {
                sftModelDir = Path.GetFullPath(sftFrom);
            }
            await Measure("after SFT", sftModelDir);

            var steps = parse.GetValue(ppoSteps);
            var rolloutBatch = parse.GetValue(rollouts);
            var ppoRecords = TrainingDataFile.ReadPpo(ppoFile).Take(steps * rolloutBatch).ToList();
            var ppo = new PpoTrainer(new PpoOptions
            {
                LearningRate = parse.GetValue(ppoLr), ValueLearningRate = parse.GetValue(valueLr), RolloutBatchSize = rolloutBatch, SamplesPerPrompt = parse.GetValue(samplesPerPrompt), Lambda = parse.GetValue(gaeLambda), MiniBatchSize = parse.GetValue(miniBatch),
                PpoEpochs = parse.GetValue(ppoEpochs), ValueWarmupIterations = parse.GetValue(valueWarmup), Epochs = 1, Temperature = temperature, MaxNewTokens = maxNew, Seed = s, Placement = ModelPlacement.Cpu,
                // The demo's own settings (a constant learning rate, its own held-out problems), not the reference's.
                ScheduleLearningRate = false, EvalFraction = 0,
            }, reward);
            var ppoResult = default(PpoResult)!;
            await TrainCommand.WithProgress("PPO", "reward", async p => ppoResult = await ppo.RunAsync(sftModelDir, sftModelDir,
                ppoRecords, Path.Combine(root, "ppo"), p, cancellationToken: ct));
            await Measure("after PPO", ppoResult.ModelDirectory);

            var table = new Table().AddColumns("stage", "held-out loss", "mean reward", "accuracy", "well-formed", "mean response tokens");
            foreach (var (stage, loss, score) in rows)
                table.AddRow(stage, $"{loss:0.0000}", $"{score.MeanReward:0.000}", $"{score.Accuracy:P1}", $"{score.WellFormed:P1}", $"{score.MeanResponseTokens:0.0}");
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"{heldOut.Count} held-out problems × {samples} samples, {train.Count} training problems ({string.Join(", ", taskKinds)}; {sftTrain.Count(p => p.IsFlawed)} of the SFT solutions flawed), preset {modelPreset}, seed {s}, sampling T={temperature}; total {clock.Elapsed:mm\\:ss}.");
            return 0;
        });
        var demo = new Command("demo", "Demonstrations on models made here.");
        demo.Subcommands.Add(command);
        return demo;
    }
}
