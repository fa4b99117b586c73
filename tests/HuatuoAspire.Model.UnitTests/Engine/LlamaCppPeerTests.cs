using HuatuoAspire.Benchmarks.LlamaCpp;

namespace HuatuoAspire.Model.UnitTests.Engine;

/// <summary><c>bench generate --compare-llama-cpp</c> on a machine without the llama.cpp peer (node-llama-cpp in tests/npm).</summary>
public sealed class LlamaCppPeerTests
{
    [Fact]
    public void WithoutThePeerTheBenchSaysInOneLineHowToInstallIt()
    {
        var root = Directory.CreateTempSubdirectory("huatuo-no-llama-").FullName;
        try
        {
            Assert.False(LlamaCppBenchmark.IsAvailable(out var reason, root));
            Assert.Equal(LlamaCppBenchmark.InstallHint, reason);
            Assert.Contains("scripts/prerequisites.sh --tests", reason);
            Assert.DoesNotContain('\n', reason);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task MeasuringWithoutThePeerFailsWithTheInstallHintNotAStackOfNodeErrors()
    {
        var root = Directory.CreateTempSubdirectory("huatuo-no-llama-").FullName;
        try
        {
            var gguf = Path.Combine(root, "model.gguf");
            await File.WriteAllBytesAsync(gguf, [0]);
            var error = await Assert.ThrowsAsync<FileNotFoundException>(() => LlamaCppBenchmark.MeasureAsync(gguf, 1, repositoryRoot: root));
            Assert.EndsWith(LlamaCppBenchmark.InstallHint, error.Message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
