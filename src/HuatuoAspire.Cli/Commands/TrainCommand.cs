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

    // The stages' options are their records' fields (StageOptionArguments); these keep the names the command line had first.
    private static readonly Dictionary<string, string> SftNames = new() { ["learning_rate"] = "--lr" };

    private static readonly Dictionary<string, string> PpoNames = new()
    {
        ["learning_rate"] = "--lr", ["value_learning_rate"] = "--value-lr", ["lambda"] = "--gae-lambda", ["value_warmup_iterations"] = "--value-warmup",
    };

    private static Command CreateSft()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face model folder to fine-tune.", Required = true };
        var data = new Option<string?>("--data") { Description = "SFT data: JSON array or JSONL with Question, Complex_CoT, Response." };
        var dataset = new Option<string?>("--dataset") { Description = "Or a dataset in the database: its finished reasoning trajectories (searched or imported), exported to OUT/sft-data.jsonl first." };
        var output = new Option<string>("--out") { Description = "Output folder (metrics.jsonl, checkpoints, model/).", Required = true };
        var stage = new StageOptionArguments<SftOptions>(SftNames);
        // The settings the API does not take.
        var d = new SftOptions();
        var decay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => d.WeightDecay };
        var clip = new Option<double>("--max-grad-norm") { DefaultValueFactory = _ => d.MaxGradNorm };
        var pack = new Option<bool>("--pack") { Description = "Pack examples into rows of max-seq-len (isolated attention, positions restart per example)." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the newest checkpoint in --out." };
        var device = new Option<string?>("--device") { Description = "cpu, cuda or auto (default)." };
        var dtype = new Option<string?>("--dtype") { Description = "fp32, bf16 or auto (fp32 on CPU, bf16 on CUDA)." };
        var command = new Command("sft", "Supervised fine-tuning on (Question, Complex_CoT, Response).") { model, data, dataset, output };
        foreach (var option in stage.Options) command.Options.Add(option);
        foreach (var option in new Option[] { decay, clip, pack, resume, device, dtype }) command.Options.Add(option);
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
                var options = stage.Read(parse) with
                {
                    WeightDecay = parse.GetValue(decay), MaxGradNorm = parse.GetValue(clip), Pack = parse.GetValue(pack), Resume = parse.GetValue(resume),
                    Placement = ModelPlacement.Parse(parse.GetValue(device), parse.GetValue(dtype)),
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
        var stage = new StageOptionArguments<PpoOptions>(PpoNames);
        var resume = new Option<bool>("--resume");
        var device = new Option<string?>("--device");
        var dtype = new Option<string?>("--dtype");
        var judge = new LlmArguments("judge-", "LLM judge (with --verifier llm)");
        var command = new Command("ppo", "PPO from an SFT checkpoint with verifier rewards (1.0 correct, 0.1 wrong, 0 malformed).")
        {
            policy, value, data, verifier, output,
        };
        foreach (var option in stage.Options) command.Options.Add(option);
        foreach (var option in new Option[] { resume, device, dtype }) command.Options.Add(option);
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
                var options = stage.Read(parse) with { Resume = parse.GetValue(resume), Placement = placement };
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
