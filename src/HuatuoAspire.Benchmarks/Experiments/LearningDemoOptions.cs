using HuatuoAspire.Model;
using HuatuoAspire.Training.Synthetic;

namespace HuatuoAspire.Benchmarks.Experiments;

/// <summary>The settings of one <see cref="LearningDemo"/> run (<c>huatuo demo learn</c>'s options).</summary>
public sealed record LearningDemoOptions
{
    public required string OutputDirectory { get; init; }
    public ModelPreset Preset { get; init; } = ModelPreset.Tiny;
    public int TrainCount { get; init; } = 3000;
    public int HeldOutCount { get; init; } = 256;
    public int SftEpochs { get; init; } = 5;
    public double SftLearningRate { get; init; } = 3e-3;
    public int PpoSteps { get; init; } = 30;
    public double PpoLearningRate { get; init; } = 2e-5;
    public int RolloutBatchSize { get; init; } = 16;
    public int MiniBatchSize { get; init; } = 32;
    public int PpoEpochs { get; init; } = 2;
    /// <summary>1: the verifier's score reaches the tokens that decide it, tens of tokens before the end, before the value model can carry it (the paper uses 0.95).</summary>
    public double GaeLambda { get; init; } = 1.0;
    public int SamplesPerPrompt { get; init; } = 4;
    /// <summary>Fraction of the SFT worked solutions replaced by a flawed one with a classic wrong step; ground truths stay right.</summary>
    public double FlawedFraction { get; init; } = 0.5;
    public double ValueLearningRate { get; init; } = 5e-4;
    public int ValueWarmupIterations { get; init; } = 4;
    public int Seed { get; init; } = 7;
    /// <summary>The three kinds a ~1M-parameter model can learn to some degree in minutes.</summary>
    public IReadOnlyList<string> Kinds { get; init; } = ["convert", "dose", "infusion"];
    /// <summary>Responses sampled per held-out problem for the figures (more samples, less noise).</summary>
    public int EvalSamples { get; init; } = 4;
    /// <summary>When set, SFT (and the initial model's row) is skipped and PPO starts from this SFT model folder.</summary>
    public string? SftModel { get; init; }

    /// <summary>Every problem with these settings, one line each; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (Preset == ModelPreset.Llama1B) problems.Add("--preset must be tiny, small or base.");
        var unknown = Kinds.Except(MedicalCalculationTasks.Kinds).ToList();
        if (Kinds.Count == 0 || unknown.Count > 0)
            problems.Add($"--kinds: unknown kind(s) {string.Join(", ", unknown)}; known: {string.Join(", ", MedicalCalculationTasks.Kinds)}.");
        if (!(FlawedFraction is >= 0 and <= 1)) problems.Add("--flawed-fraction must lie in [0, 1].");
        if (EvalSamples < 1) problems.Add("--eval-samples must be at least 1.");
        if (SftModel is not null && !File.Exists(Path.Combine(SftModel, "config.json"))) problems.Add($"--sft-model {SftModel}: no config.json there.");
        return problems;
    }
}
