using HuatuoAspire.Model;

namespace HuatuoAspire.Training.UnitTests;

/// <summary>A fresh tiny byte-tokenizer model folder per test, deleted afterwards.</summary>
public sealed class TinyModel : IDisposable
{
    public TinyModel(int seed = 0)
    {
        Root = Path.Combine(Path.GetTempPath(), "huatuo-training-tests", Guid.NewGuid().ToString("N"));
        Directory = Path.Combine(Root, "model");
        ModelPresets.Create(Directory, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed).Dispose();
    }

    public string Root { get; }
    public string Directory { get; }

    public string Out(string name) => Path.Combine(Root, name);

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
