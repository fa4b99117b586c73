using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HuatuoAspire.Training.Optimization;

/// <summary>
/// AdamW with the usual two parameter groups: weight decay on matrices, none on biases and normalisation weights
/// (every 1-D parameter).
/// </summary>
public static class AdamWGroups
{
    public static (List<Parameter> Decay, List<Parameter> NoDecay) Split(IEnumerable<(string Name, Parameter Parameter)> parameters)
    {
        var decay = new List<Parameter>();
        var noDecay = new List<Parameter>();
        foreach (var (name, p) in parameters)
        {
            if (!p.requires_grad) continue;
            if (p.dim() < 2 || name.EndsWith(".bias", StringComparison.Ordinal) || name.Contains("norm", StringComparison.Ordinal)) noDecay.Add(p);
            else decay.Add(p);
        }
        return (decay, noDecay);
    }

    public static AdamW Create(IEnumerable<(string Name, Parameter Parameter)> parameters, double learningRate, double weightDecay)
    {
        var (decay, noDecay) = Split(parameters);
        var groups = new List<AdamW.ParamGroup>
        {
            new(decay, lr: learningRate, weight_decay: weightDecay),
            new(noDecay, lr: learningRate, weight_decay: 0),
        };
        return optim.AdamW(groups, learningRate, weight_decay: weightDecay);
    }

    public static void SetLearningRate(AdamW optimizer, double learningRate)
    {
        foreach (var group in optimizer.ParamGroups) group.LearningRate = learningRate;
    }
}
