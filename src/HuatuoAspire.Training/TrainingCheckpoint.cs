using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp.Modules;

namespace HuatuoAspire.Training;

/// <summary>
/// A resumable checkpoint folder <c>checkpoint-{step}</c>: the Hugging Face model folder(s) written by the trainer,
/// the optimizer state (<c>optimizer*.pt</c>), and <c>trainer_state.json</c> with the next step and the seed. The
/// schedule is a function of the step and every step reseeds the generators from (seed, step), so this is the whole
/// state: a resumed run computes what the uninterrupted one would have.
/// </summary>
public static class TrainingCheckpoint
{
    public const string StateFile = "trainer_state.json";

    public static string Folder(string outputDirectory, int step) => Path.Combine(outputDirectory, $"checkpoint-{step}");

    public static void SaveOptimizer(AdamW optimizer, string folder, string name = "optimizer") =>
        optimizer.save_state_dict(Path.Combine(folder, name + ".pt"));

    public static void LoadOptimizer(AdamW optimizer, string folder, string name = "optimizer") =>
        optimizer.load_state_dict(Path.Combine(folder, name + ".pt"));

    public static void WriteState(string folder, int nextStep, int seed, string stage)
    {
        var state = new JsonObject { ["next_step"] = nextStep, ["seed"] = seed, ["stage"] = stage };
        File.WriteAllText(Path.Combine(folder, StateFile), state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        // Written last: a folder without it is an interrupted save and is never resumed from.
    }

    /// <summary>The newest complete checkpoint in <paramref name="outputDirectory"/>, or null.</summary>
    public static (string Folder, int NextStep)? Latest(string outputDirectory, string stage)
    {
        if (!Directory.Exists(outputDirectory)) return null;
        var found = Directory.GetDirectories(outputDirectory, "checkpoint-*")
            .Where(d => File.Exists(Path.Combine(d, StateFile)))
            .Select(d => (Folder: d, State: JsonNode.Parse(File.ReadAllText(Path.Combine(d, StateFile)))!))
            .Where(x => x.State["stage"]?.GetValue<string>() == stage)
            .Select(x => (x.Folder, NextStep: x.State["next_step"]!.GetValue<int>()))
            .OrderByDescending(x => x.NextStep)
            .FirstOrDefault();
        return found.Folder is null ? null : found;
    }
}
