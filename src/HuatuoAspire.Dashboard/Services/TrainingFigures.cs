namespace HuatuoAspire.Dashboard.Services;

/// <summary>A chart of the training page: figures that share a scale, plotted together.</summary>
public sealed record FigureGroup(string Id, string Title, IReadOnlyList<string> Figures, bool PpoOnly = false);

/// <summary>
/// How the figures the trainer records (per optimizer step, in PostgreSQL) are grouped into charts: PPO's reward,
/// correctness and well-formedness share the 0–1 scale, its KL figures another; a figure not named here gets a chart
/// of its own.
/// </summary>
public static class TrainingFigures
{
    public static readonly IReadOnlyList<FigureGroup> Groups =
    [
        new("loss", "Loss", ["loss", "policy_loss", "value_loss"]),
        new("lr", "Learning rate", ["lr"]),
        new("reward", "Reward and accuracy", ["reward", "correct_fraction", "well_formed_fraction"], PpoOnly: true),
        new("kl", "KL to the reference", ["kl", "approx_kl"], PpoOnly: true),
        new("response-length", "Response length (tokens)", ["response_length"], PpoOnly: true),
        new("tokens-per-s", "Tokens per second", ["tokens_per_s"]),
    ];

    /// <summary>How a figure is labelled in a legend; the recorded name otherwise.</summary>
    public static string Label(string figure) => figure switch
    {
        "correct_fraction" => "accuracy",
        "well_formed_fraction" => "well-formed",
        "lr" => "learning rate",
        "tokens_per_s" => "tokens/s",
        _ => figure.Replace('_', ' '),
    };

    /// <summary>The groups that have at least one recorded figure, then one group per figure no group names.</summary>
    public static IReadOnlyList<FigureGroup> For(IEnumerable<string> recorded)
    {
        var names = recorded.ToHashSet(StringComparer.Ordinal);
        var named = Groups.SelectMany(g => g.Figures).ToHashSet(StringComparer.Ordinal);
        return
        [
            .. Groups.Where(g => g.Figures.Any(names.Contains)).Select(g => g with { Figures = g.Figures.Where(names.Contains).ToList() }),
            .. names.Where(n => !named.Contains(n)).Order(StringComparer.Ordinal).Select(n => new FigureGroup(n.Replace('_', '-'), Label(n), [n])),
        ];
    }

    /// <summary>An exponential moving average (TensorBoard's smoothing): 0 leaves the points as they are.</summary>
    public static IReadOnlyList<MetricPoint> Smooth(IReadOnlyList<MetricPoint> points, double weight)
    {
        if (weight <= 0 || points.Count == 0) return points;
        var smoothed = new List<MetricPoint>(points.Count);
        var last = points[0].Value;
        foreach (var p in points)
        {
            last = last * weight + (1 - weight) * p.Value;
            smoothed.Add(p with { Value = last });
        }
        return smoothed;
    }
}
