using Azure;
using HuatuoAspire.Storage;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>What the training forms offer from blob storage: model folders (a prefix with a config.json, uploaded models
/// and checkpoints alike) and data files (JSON/JSONL outside those folders), each as the blob:REFERENCE the trainer takes.</summary>
public sealed record BlobChoices(IReadOnlyList<string> Models, IReadOnlyList<string> DataFiles, string? Problem)
{
    public const string Scheme = "blob:";

    public static async Task<BlobChoices> ReadAsync(ArtifactStore store, CancellationToken ct)
    {
        var names = new List<string>();
        try
        {
            await foreach (var blob in store.ListAsync(null, ct)) names.Add(blob.Name);
        }
        catch (RequestFailedException e) when (e.Status == StatusCodes.Status404NotFound)
        {
            // No container yet: nothing was uploaded.
        }
        catch (Exception e) when (e is RequestFailedException or AggregateException)
        {
            return new BlobChoices([], [], $"Blob storage could not be listed: {e.Message}");
        }
        return From(names);
    }

    public static BlobChoices From(IEnumerable<string> blobNames)
    {
        var names = blobNames.ToList();
        var models = names.Where(n => n == "config.json" || n.EndsWith("/config.json", StringComparison.Ordinal))
            .Select(n => n[..Math.Max(0, n.Length - "/config.json".Length)]).Where(p => p.Length > 0).Distinct().Order(StringComparer.Ordinal).ToList();
        var data = names.Where(n => n.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || n.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
            .Where(n => !models.Any(m => n.StartsWith(m + "/", StringComparison.Ordinal))).Order(StringComparer.Ordinal).ToList();
        return new BlobChoices(models.Select(m => Scheme + m).ToList(), data.Select(d => Scheme + d).ToList(), null);
    }
}
