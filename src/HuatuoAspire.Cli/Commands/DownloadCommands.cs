using System.CommandLine;
using System.Text.Json;
using HuatuoAspire.Storage;
using HuatuoAspire.Trainer.Uploads;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary>
/// `huatuo download model`: a model folder from blob storage, every blob verified against its recorded SHA-256, into
/// a local folder that appears complete or not at all. The Azure deployment runs it as the inference service's init
/// container (the served model, <c>Inference__ModelPath</c>); a folder already holding the same blobs is kept, so a
/// replica that starts again does not download 16 GB again.
/// </summary>
public static class DownloadCommands
{
    /// <summary>Written last into a downloaded folder: the blobs it holds, as blob storage listed them.</summary>
    public const string ManifestFileName = ".huatuo-blobs.json";

    public static Command Create()
    {
        var download = new Command("download", "Download a model folder from blob storage.");
        download.Subcommands.Add(CreateModel());
        return download;
    }

    private static Command CreateModel()
    {
        var from = new Option<string>("--from") { Description = "blob:PREFIX of the model folder.", Required = true };
        var to = new Option<DirectoryInfo>("--to") { Description = "Folder to fill (replaced only once every blob is verified).", Required = true };
        var command = new Command("model", "Download the blobs under PREFIX into a folder, verifying each SHA-256.") { from, to, BlobConnection.Option };
        command.SetAction((parse, ct) => UploadCommands.RunAsync(async () =>
        {
            var source = BlobReference.Parse(parse.GetValue(from)!);
            var target = parse.GetValue(to)!.FullName;
            var store = BlobConnection.OpenStore(parse);

            var listed = new List<StoredBlob>();
            await foreach (var blob in store.ListAsync(source.Name + "/", ct)) listed.Add(blob);
            if (listed.Count == 0) throw new InvalidOperationException($"No blobs under {source}: upload the folder first (huatuo upload model --from DIR --to {source}).");
            var manifest = JsonSerializer.Serialize(listed.OrderBy(b => b.Name, StringComparer.Ordinal));
            var manifestPath = Path.Combine(target, ManifestFileName);
            if (File.Exists(manifestPath) && await File.ReadAllTextAsync(manifestPath, ct) == manifest)
            {
                AnsiConsole.MarkupLineInterpolated($"[green]{target}[/] already holds the {listed.Count} blob(s) of {source}: kept.");
                return;
            }

            // Fill a sibling folder and swap it in: a reader of the target never sees a half-downloaded model.
            var staging = $"{target}.partial-{Guid.NewGuid():N}";
            try
            {
                var downloaded = await store.DownloadFolderAsync(source.Name, staging, ct);
                await File.WriteAllTextAsync(Path.Combine(staging, ManifestFileName), manifest, ct);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var old = $"{target}.old-{Guid.NewGuid():N}";
                if (Directory.Exists(target)) Directory.Move(target, old);
                Directory.Move(staging, target);
                if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
                AnsiConsole.MarkupLineInterpolated($"[green]Downloaded {downloaded.Count}[/] blob(s), {downloaded.Sum(b => b.SizeBytes):N0} bytes, verified, into {target}.");
            }
            finally
            {
                if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            }
        }));
        return command;
    }
}
