using HuatuoAspire.Model;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary>Tiny model folders made with the project's own presets, once per test run, in a temporary folder.</summary>
public static class TinyModels
{
    private static readonly Lazy<string> Root = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), $"huatuo-model-tests-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        return dir;
    });
    private static readonly object Gate = new();

    public static string Folder(ModelArchitecture arch, int seed = 1)
    {
        lock (Gate)
        {
            var dir = Path.Combine(Root.Value, $"{arch}-{seed}");
            if (!File.Exists(Path.Combine(dir, "model.safetensors")))
            {
                using var _ = ModelPresets.Create(dir, arch, ModelPreset.Tiny, "byte", seed);
            }
            return dir;
        }
    }

    public static string NewFolder(string name) => Directory.CreateDirectory(Path.Combine(Root.Value, $"{name}-{Guid.NewGuid():N}")).FullName;
}
