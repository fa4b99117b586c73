using HuatuoAspire.Trainer.Jobs;

namespace HuatuoAspire.Trainer.Apis;

/// <summary>
/// Where a training run's <c>data</c> file may come from: blob storage (<c>blob:NAME</c>), or a file under one of the
/// folders in <c>Trainer:DataFolders</c> (<c>huatuo up</c>: its data folder; the AppHost: its data folder), PPO's
/// <c>dataset</c> being the database's own. Anything else is refused before the file is touched, with a reason that
/// says nothing about it: the run's error, which anyone may read, must never quote a file of the server's
/// (<c>data: "/etc/passwd"</c> once told whether it existed and its first character).
/// </summary>
public sealed class TrainingDataFolders(IConfiguration configuration)
{
    public const string ConfigurationKey = "Trainer:DataFolders";

    /// <summary>The allowed folders, as full paths.</summary>
    public IReadOnlyList<string> Folders { get; } = (configuration.GetSection(ConfigurationKey).Get<string[]>() ?? [])
        .Where(f => !string.IsNullOrWhiteSpace(f))
        .Select(f => Path.TrimEndingDirectorySeparator(Path.GetFullPath(f)))
        .ToArray();

    /// <summary>Null when <paramref name="data"/> may be read; else why not.</summary>
    public string? Refusal(string? data)
    {
        if (data is null || TrainingRunConfig.IsBlob(data)) return null;
        if (!data.Contains('\0') && Path.IsPathFullyQualified(data) && IsInside(Path.GetFullPath(data)) && IsInside(LinkTarget(Path.GetFullPath(data))))
            return null;
        var where = Folders.Count == 0
            ? "this trainer reads no local data files"
            : $"a local file must be under {string.Join(" or ", Folders)} ({ConfigurationKey})";
        return $"data '{data}' is not allowed: {where}; upload the file with `huatuo upload data` and give blob:NAME"
               + " (or, for PPO, a dataset).";
    }

    private bool IsInside(string path) =>
        Folders.Any(folder => path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal));

    /// <summary>Where a symbolic link in an allowed folder finally points (the path itself when it is none).</summary>
    private static string LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
        }
        catch (IOException)
        {
            return path;
        }
    }
}
