using System.CommandLine;
using Azure;
using HuatuoAspire.Storage;
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
            var folder = parse.GetValue(from)!;
            var target = BlobReference.Parse(parse.GetValue(to)!);
            if (!folder.Exists) throw new InvalidOperationException($"--from {folder.FullName} does not exist.");
            if (!File.Exists(Path.Combine(folder.FullName, "config.json")))
                throw new InvalidOperationException($"{folder.FullName} is not a Hugging Face model folder: it has no config.json.");
            if (!folder.EnumerateFiles("*.safetensors", SearchOption.TopDirectoryOnly).Any())
                throw new InvalidOperationException($"{folder.FullName} has no *.safetensors weights (pytorch_model.bin is not read by this project).");

            var store = BlobConnection.OpenStore(parse);
            var existing = await ExistingAsync(store, target.Name + "/", ct);
            RefuseToReplace(existing, target, parse.GetValue(overwrite));
            var uploaded = await store.UploadFolderAsync(folder.FullName, target.Name, ct);
            // Blobs of an earlier upload that this folder no longer has (a shard count that changed) would be served too.
            var stale = existing.Except(uploaded.Select(b => b.Name), StringComparer.Ordinal).ToList();
            foreach (var name in stale) await store.DeleteAsync(name, ct);
            Report(uploaded, target, stale.Count);
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
            var file = parse.GetValue(from)!;
            var target = BlobReference.Parse(parse.GetValue(to)!);
            if (!file.Exists) throw new InvalidOperationException($"--from {file.FullName} does not exist or is not a file.");
            if (file.Length == 0) throw new InvalidOperationException($"{file.FullName} is empty.");
            // The trainer reads the file only when the run starts, on a GPU: a record it cannot read fails here instead.
            _ = parse.GetValue(kind) == "ppo" ? TrainingDataFile.ReadPpo(file.FullName).Count : TrainingDataFile.ReadSft(file.FullName).Count;

            var store = BlobConnection.OpenStore(parse);
            var existing = await ExistingAsync(store, target.Name, ct);
            RefuseToReplace(existing.Where(n => n == target.Name).ToList(), target, parse.GetValue(overwrite));
            var uploaded = await store.UploadFileAsync(target.Name, file.FullName, ct);
            Report([uploaded], target, 0);
        }));
        return command;
    }

    private static async Task<List<string>> ExistingAsync(ArtifactStore store, string prefix, CancellationToken ct)
    {
        var names = new List<string>();
        await foreach (var blob in store.ListAsync(prefix, ct)) names.Add(blob.Name);
        return names;
    }

    private static void RefuseToReplace(IReadOnlyCollection<string> existing, BlobReference target, bool overwrite)
    {
        if (existing.Count > 0 && !overwrite)
            throw new InvalidOperationException(
                $"{target} already holds {existing.Count} blob(s) (a checkpoint of a training run lives under blob:training/...): nothing was uploaded; pass --overwrite to replace them.");
    }

    private static void Report(IReadOnlyList<StoredBlob> uploaded, BlobReference target, int deleted)
    {
        var table = new Table().AddColumns("blob", "bytes", "sha256");
        foreach (var blob in uploaded) table.AddRow(Markup.Escape(blob.Name), blob.SizeBytes.ToString("N0"), blob.Sha256);
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"[green]Uploaded {uploaded.Count}[/] blob(s), {uploaded.Sum(b => b.SizeBytes):N0} bytes{(deleted > 0 ? $", deleted {deleted} stale" : "")}. Use it as [bold]{target}[/].");
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
