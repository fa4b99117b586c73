using System.CommandLine;
using Azure;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Storage;
using HuatuoAspire.Trainer.Uploads;
using HuatuoAspire.Training.Data;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary>
/// `huatuo upload model|data`: a base model folder or a training data file into blob storage through the artifact
/// store, so every blob carries the SHA-256 the trainer and the inference service verify on download. The result is
/// named by the blob reference the training forms and APIs take.
/// </summary>
public static class UploadCommands
{
    public static Command Create()
    {
        var upload = new Command("upload", "Upload a model folder or a training data file to blob storage (for training and serving on Azure).");
        upload.Subcommands.Add(CreateModel());
        upload.Subcommands.Add(CreateData());
        return upload;
    }

    private static Command CreateModel()
    {
        var from = new Option<DirectoryInfo>("--from") { Description = "A Hugging Face model folder (config.json, *.safetensors, tokenizer files).", Required = true };
        var to = new Option<string>("--to") { Description = "blob:PREFIX, e.g. blob:models/huatuogpt-o1-8b.", Required = true };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace what is already under the prefix (its other blobs are deleted)." };
        var command = new Command("model", "Upload a model folder as blobs PREFIX/<relative path>.") { from, to, overwrite, BlobConnection.Option };
        command.SetAction((parse, ct) => RunAsync(async () =>
        {
            var target = BlobReference.Parse(parse.GetValue(to)!);
            var result = await TrainingUploads.UploadModelAsync(BlobConnection.OpenStore(parse), parse.GetValue(from)!.FullName, target, parse.GetValue(overwrite), ct);
            Report(result);
        }));
        return command;
    }

    private static Command CreateData()
    {
        var from = new Option<FileInfo>("--from") { Description = "An SFT or PPO data file (JSON or JSONL).", Required = true };
        var to = new Option<string>("--to") { Description = "blob:NAME, e.g. blob:data/medical-o1-sft.jsonl.", Required = true };
        var kind = new Option<string>("--kind") { Description = "sft (Question, Complex_CoT, Response) or ppo (Open-ended Verifiable Question, Ground-True Answer): every record is checked before uploading.", Required = true };
        kind.AcceptOnlyFromAmong("sft", "ppo");
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the blob when it exists." };
        var command = new Command("data", "Upload a training data file as one blob.") { from, to, kind, overwrite, BlobConnection.Option };
        command.SetAction((parse, ct) => RunAsync(async () =>
        {
            var target = BlobReference.Parse(parse.GetValue(to)!);
            var dataKind = parse.GetValue(kind) == "ppo" ? TrainingRunKind.Ppo : TrainingRunKind.Sft;
            var result = await TrainingUploads.UploadDataAsync(BlobConnection.OpenStore(parse), parse.GetValue(from)!.FullName, dataKind, target, parse.GetValue(overwrite), ct);
            Report(result);
        }));
        return command;
    }

    private static void Report(UploadResult result)
    {
        var table = new Table().AddColumns("blob", "bytes", "sha256");
        foreach (var blob in result.Uploaded) table.AddRow(Markup.Escape(blob.Name), blob.SizeBytes.ToString("N0"), blob.Sha256);
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"[green]Uploaded {result.Uploaded.Count}[/] blob(s), {result.Uploaded.Sum(b => b.SizeBytes):N0} bytes{(result.StaleDeleted > 0 ? $", deleted {result.StaleDeleted} stale" : "")}. Use it as [bold]{result.Target}[/].");
    }

    /// <summary>Bad input and unreachable storage are one line and exit code 2, not a stack trace.</summary>
    internal static async Task<int> RunAsync(Func<Task> body)
    {
        try
        {
            await body();
            return 0;
        }
        catch (Exception e) when (e is InvalidOperationException or TrainingDataException or FormatException or RequestFailedException or AggregateException or IOException or InvalidDataException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return 2;
        }
    }
}
