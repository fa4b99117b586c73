using System.CommandLine;
using HuatuoAspire.Data.Export;
using HuatuoAspire.Domain.Reward;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Model;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Verification;
using HuatuoAspire.Training;
using HuatuoAspire.Training.Data;
using HuatuoAspire.Training.Ppo;
using HuatuoAspire.Training.Scoring;
using HuatuoAspire.Training.Sft;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary><c>huatuo train sft</c> and <c>huatuo train ppo</c>: the two training stages on files.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var train = new Command("train", "Train a model: SFT (stage 1) or PPO with verifier rewards (stage 2).");
        train.Subcommands.Add(CreateSft());
        train.Subcommands.Add(CreatePpo());
        return train;
    }

    private static Command CreateSft()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face model folder to fine-tune.", Required = true };
        var data = new Option<string?>("--data") { Description = "SFT data: JSON array or JSONL with Question, Complex_CoT, Response." };
        var dataset = new Option<string?>("--dataset") { Description = "Or a dataset in the database: its finished reasoning trajectories (searched or imported), exported to OUT/sft-data.jsonl first." };
        var output = new Option<string>("--out") { Description = "Output folder (metrics.jsonl, checkpoints, model/).", Required = true };
        var d = new SftOptions();
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => d.LearningRate };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => d.Epochs };
        var batch = new Option<int>("--batch-size") { Description = "Examples per optimizer step.", DefaultValueFactory = _ => d.BatchSize };
        var micro = new Option<int>("--micro-batch-size") { Description = "Examples per forward pass (gradient accumulation makes up the rest).", DefaultValueFactory = _ => d.MicroBatchSize };
        var maxLen = new Option<int>("--max-seq-len") { DefaultValueFactory = _ => d.MaxSeqLen };
        var warmup = new Option<double>("--warmup-ratio") { DefaultValueFactory = _ => d.WarmupRatio };
        var decay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => d.WeightDecay };
        var clip = new Option<double>("--max-grad-norm") { DefaultValueFactory = _ => d.MaxGradNorm };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => d.Seed };
        var pack = new Option<bool>("--pack") { Description = "Pack examples into rows of max-seq-len (isolated attention, positions restart per example)." };
        var saveEvery = new Option<int>("--save-every") { Description = "Checkpoint every N optimizer steps (0: only the final model)." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the newest checkpoint in --out." };
        var device = new Option<string?>("--device") { Description = "cpu, cuda or auto (default)." };
        var dtype = new Option<string?>("--dtype") { Description = "fp32, bf16 or auto (fp32 on CPU, bf16 on CUDA)." };
        var loraRank = new Option<int>("--lora-rank") { Description = "LoRA rank (0: full fine-tuning). The base is frozen; out/model/ is the merged model, out/adapter/ the PEFT adapter." };
        var loraAlpha = new Option<double>("--lora-alpha") { Description = "LoRA alpha (scaling = alpha / rank).", DefaultValueFactory = _ => d.LoraAlpha };
        var loraDropout = new Option<double>("--lora-dropout") { Description = "Dropout on the adapter input while training.", DefaultValueFactory = _ => d.LoraDropout };
        var loraTargets = new Option<string>("--lora-targets") { Description = "Comma-separated projection names to adapt.", DefaultValueFactory = _ => string.Join(",", d.LoraTargets) };
        var command = new Command("sft", "Supervised fine-tuning on (Question, Complex_CoT, Response).")
        {
            model, data, dataset, output, lr, epochs, batch, micro, maxLen, warmup, decay, clip, seed, pack, saveEvery, resume, device, dtype,
            loraRank, loraAlpha, loraDropout, loraTargets,
        };
        DataConnection.AddOptions(command);
        command.Validators.Add(result =>
        {
            if ((result.GetValue(data) is null) == (result.GetValue(dataset) is null))
                result.AddError("Give exactly one of --data (an SFT file) and --dataset (a dataset in the database).");
        });
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var file = parse.GetValue(data);
                if (parse.GetValue(dataset) is { } name)
                {
                    file = Path.Combine(parse.GetValue(output)!, "sft-data.jsonl");
                    var exported = await ExportDatasetAsync(parse, name, file, ct);
                    if (exported != 0) return exported;
                }
                var records = TrainingDataFile.ReadSft(file!);
                var options = new SftOptions
                {
                    LearningRate = parse.GetValue(lr), Epochs = parse.GetValue(epochs), BatchSize = parse.GetValue(batch),
                    MicroBatchSize = parse.GetValue(micro), MaxSeqLen = parse.GetValue(maxLen), WarmupRatio = parse.GetValue(warmup),
                    WeightDecay = parse.GetValue(decay), MaxGradNorm = parse.GetValue(clip), Seed = parse.GetValue(seed),
                    Pack = parse.GetValue(pack), SaveEvery = parse.GetValue(saveEvery), Resume = parse.GetValue(resume),
                    Placement = ModelPlacement.Parse(parse.GetValue(device), parse.GetValue(dtype)),
                    LoraRank = parse.GetValue(loraRank), LoraAlpha = parse.GetValue(loraAlpha), LoraDropout = parse.GetValue(loraDropout),
                    LoraTargets = parse.GetValue(loraTargets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                };
                var trainer = new SftTrainer(options);
                SftResult result = null!;
                await WithProgress("SFT", "loss", p => result = trainer.Run(parse.GetValue(model)!, records, parse.GetValue(output)!, p,
                    m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]"), ct));
                AnsiConsole.MarkupLineInterpolated($"SFT done: {result.Steps} steps on {result.Examples} examples ({result.TruncatedExamples} cut), final loss {result.FinalLoss:0.0000}, {result.TokensPerSecond:0} tokens/s. Model: {result.ModelDirectory}");
                return 0;
            }
            catch (Exception e) when (e is TrainingDataException or ArgumentException or ModelFormatException or IOException)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]{e.Message}[/]");
                return 2;
            }
        });
        return command;
    }

    /// <summary>Writes the dataset's SFT records to <paramref name="file"/>; 0 when there is at least one, else the exit code.</summary>
    private static Task<int> ExportDatasetAsync(ParseResult parse, string dataset, string file, CancellationToken ct) =>
        DataConnection.RunAsync(parse, ct, async connection =>
        {
            await connection.EnsureMigratedAsync(ct);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
            int count;
            await using (var stream = File.Create(file))
                count = await connection.Services.GetRequiredService<DatasetExporter>().ExportSftAsync(stream, ExportFormat.Jsonl, dataset, ct);
            if (count > 0)
            {
                AnsiConsole.MarkupLineInterpolated($"[grey]{count} SFT record(s) of dataset '{dataset}' written to {file}.[/]");
                return 0;
            }
            AnsiConsole.MarkupLineInterpolated($"[red]Dataset '{dataset}' has no finished reasoning trajectories (searched or imported) to train on.[/]");
            return 2;
        });

    private static Command CreatePpo()
    {
        var policy = new Option<string>("--policy") { Description = "SFT checkpoint (Hugging Face folder) the policy starts from; also the frozen reference.", Required = true };
        var value = new Option<string>("--value") { Description = "Folder the value model starts from (a causal-LM or sequence-classification checkpoint).", Required = true };
        var data = new Option<string>("--data") { Description = "PPO data: JSON/JSONL with 'Open-ended Verifiable Question' (or Question) and 'Ground-True Answer'.", Required = true };
        var verifier = new Option<string>("--verifier")
        {
            Description = "rule | llm | classifier:DIR (llm: the judge given with --judge-url). Default: the classifier in Trainer__DefaultClassifier when set (the reference rewards with its verifier model), else rule.",
            DefaultValueFactory = _ => HuatuoAspire.Trainer.Jobs.TrainingRunConfig.DefaultVerifier(Environment.GetEnvironmentVariable("Trainer__DefaultClassifier")),
        };
        var output = new Option<string>("--out") { Required = true };
        var d = new PpoOptions();
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => d.LearningRate };
        var valueLr = new Option<double>("--value-lr") { DefaultValueFactory = _ => d.ValueLearningRate };
        var kl = new Option<double>("--kl-coef") { DefaultValueFactory = _ => d.KlCoefficient };
        var ppoEpochs = new Option<int>("--ppo-epochs") { DefaultValueFactory = _ => d.PpoEpochs };
        var gaeLambda = new Option<double>("--gae-lambda") { DefaultValueFactory = _ => d.Lambda };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the prompts.", DefaultValueFactory = _ => d.Epochs };
        var rolloutBatch = new Option<int>("--rollout-batch-size") { Description = "Prompts per iteration.", DefaultValueFactory = _ => d.RolloutBatchSize };
        var samples = new Option<int>("--samples-per-prompt") { Description = "Responses sampled per prompt.", DefaultValueFactory = _ => d.SamplesPerPrompt };
        var miniBatch = new Option<int>("--mini-batch-size") { DefaultValueFactory = _ => d.MiniBatchSize };
        var valueWarmup = new Option<int>("--value-warmup") { Description = "Rollout iterations at the start in which only the value model learns.", DefaultValueFactory = _ => d.ValueWarmupIterations };
        var temperature = new Option<double>("--temperature") { DefaultValueFactory = _ => d.Temperature };
        var maxNew = new Option<int>("--response-length") { DefaultValueFactory = _ => d.MaxNewTokens };
        var warmup = new Option<double>("--warmup-ratio") { Description = "Linear warm-up over this fraction of the rollout iterations, then linear decay to zero.", DefaultValueFactory = _ => d.WarmupRatio };
        var evalFraction = new Option<double>("--eval-fraction") { Description = $"Fraction of the prompts held out (at most {d.MaxEvalPrompts}) and scored at the end.", DefaultValueFactory = _ => d.EvalFraction };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => d.Seed };
        var saveEvery = new Option<int>("--save-every") { Description = "Checkpoint every N rollout iterations (0: only the final folders)." };
        var resume = new Option<bool>("--resume");
        var device = new Option<string?>("--device");
        var dtype = new Option<string?>("--dtype");
        var judge = new LlmArguments("judge-", "LLM judge (with --verifier llm)");
        var command = new Command("ppo", "PPO from an SFT checkpoint with verifier rewards (1.0 correct, 0.1 wrong, 0 malformed).")
        {
            policy, value, data, verifier, output, lr, valueLr, kl, ppoEpochs, gaeLambda, epochs, rolloutBatch, samples, miniBatch, valueWarmup, temperature, maxNew, warmup, evalFraction, seed, saveEvery, resume, device, dtype,
        };
        judge.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var records = TrainingDataFile.ReadPpo(parse.GetValue(data)!);
                var placement = ModelPlacement.Parse(parse.GetValue(device), parse.GetValue(dtype));
                var specification = VerifierSpecification.TryParse(parse.GetValue(verifier), out var parsed, out var error)
                    ? parsed : throw new ArgumentException($"--verifier: {error}");
                // The command line has its judge from --judge-url and no blob storage.
                if (specification.Endpoint is not null || specification.ClassifierIsBlob)
                    throw new ArgumentException($"--verifier must be rule, llm or classifier:DIR (got '{specification}').");
                LlmEndpoint? endpoint = null;
                var factory = new AnswerVerifierFactory(_ => endpoint = new LlmEndpoint(judge.Resolve(parse, "judge", 4)),
                    (folder, _) => Task.FromResult<IAnswerVerifier>(new ClassifierVerifier(folder, placement)));
                var answerVerifier = await factory.CreateAsync(specification, ct);
                using var _ = endpoint;
                var options = new PpoOptions
                {
                    LearningRate = parse.GetValue(lr), ValueLearningRate = parse.GetValue(valueLr), KlCoefficient = parse.GetValue(kl),
                    PpoEpochs = parse.GetValue(ppoEpochs), Lambda = parse.GetValue(gaeLambda), Epochs = parse.GetValue(epochs), RolloutBatchSize = parse.GetValue(rolloutBatch), SamplesPerPrompt = parse.GetValue(samples),
                    MiniBatchSize = parse.GetValue(miniBatch), ValueWarmupIterations = parse.GetValue(valueWarmup), Temperature = parse.GetValue(temperature), MaxNewTokens = parse.GetValue(maxNew),
                    WarmupRatio = parse.GetValue(warmup), EvalFraction = parse.GetValue(evalFraction),
                    Seed = parse.GetValue(seed), SaveEvery = parse.GetValue(saveEvery), Resume = parse.GetValue(resume), Placement = placement,
                };
                var trainer = new PpoTrainer(options, new HuatuoReward(answerVerifier));
                PpoResult result = null!;
                await WithProgress("PPO", "reward", async p => result = await trainer.RunAsync(parse.GetValue(policy)!, parse.GetValue(value)!, records,
                    parse.GetValue(output)!, p, m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]"), ct));
                (answerVerifier as IDisposable)?.Dispose();
                AnsiConsole.MarkupLineInterpolated($"PPO done: {result.Steps} optimizer steps over {result.Iterations} rollout batches, last mean reward {result.FinalMeanReward:0.000}. Policy: {result.ModelDirectory}, value model: {result.ValueDirectory}");
                if (result.HeldOut is { } heldOut)
                    AnsiConsole.MarkupLineInterpolated($"Held-out prompts: mean reward {heldOut.MeanReward:0.000}, accepted {heldOut.Accuracy:P1}, well formed {heldOut.WellFormed:P1}.");
                return 0;
            }
            catch (Exception e) when (e is TrainingDataException or ArgumentException or ModelFormatException or IOException or LlmConfigurationException)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]{e.Message}[/]");
                return 2;
            }
        });
        return command;
    }

    internal static Task WithProgress(string stage, string headline, Action<Action<TrainingProgress>> run) =>
        WithProgress(stage, headline, p => { run(p); return Task.CompletedTask; });

    /// <summary>Runs a trainer on a worker thread behind a Spectre progress bar showing step, the headline figure and ETA.</summary>
    internal static Task WithProgress(string stage, string headline, Func<Action<TrainingProgress>, Task> run) =>
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(stage, maxValue: 1);
                await Task.Run(() => run(p =>
                {
                    task.MaxValue = p.TotalSteps;
                    task.Value = p.Step;
                    var figure = p.Figures.TryGetValue(headline, out var v) ? v : double.NaN;
                    task.Description = $"{stage} step {p.Step}/{p.TotalSteps} {headline} {figure:0.0000}";
                }));
            });
}
