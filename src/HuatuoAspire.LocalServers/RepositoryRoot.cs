namespace HuatuoAspire.LocalServers;

/// <summary>Finds the checkout's root (the folder with HuatuoAspire.sln) from the running program's location.</summary>
public static class RepositoryRoot
{
    public static string? TryFind(string? start = null)
    {
        for (var dir = new DirectoryInfo(start ?? AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HuatuoAspire.sln"))) return dir.FullName;
        }
        return null;
    }
}
