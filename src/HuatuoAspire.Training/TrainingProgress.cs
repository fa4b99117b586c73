namespace HuatuoAspire.Training;

/// <summary>What a trainer reports after each optimizer step (for progress bars).</summary>
public sealed record TrainingProgress(int Step, int TotalSteps, IReadOnlyDictionary<string, double> Figures);

/// <summary>Files a Hugging Face model folder carries besides config and weights; copied into every saved folder.</summary>
public static class ModelFolderFiles
{
    private static readonly string[] Names =
        ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "vocab.json", "merges.txt"];

    public static void CopyTokenizer(string fromDirectory, string toDirectory)
    {
        Directory.CreateDirectory(toDirectory);
        foreach (var name in Names)
        {
            var source = Path.Combine(fromDirectory, name);
            if (File.Exists(source)) File.Copy(source, Path.Combine(toDirectory, name), overwrite: true);
        }
    }
}
