using HuatuoAspire.Domain;
using static TorchSharp.torch;

namespace HuatuoAspire.Training.Sft;

/// <summary>
/// One micro-batch on the model's device: ids, shifted-free labels (the loss shifts), and either a padding mask or,
/// when packed, per-token positions and a block-diagonal causal mask so packed examples never see each other.
/// </summary>
public sealed class SftMicroBatch(Tensor inputIds, Tensor labels, Tensor? attentionMask, Tensor? positions, Tensor? packedMask, long labelTokens, long tokens) : IDisposable
{
    public Tensor InputIds { get; } = inputIds;
    public Tensor Labels { get; } = labels;
    public Tensor? AttentionMask { get; } = attentionMask;
    public Tensor? Positions { get; } = positions;
    public Tensor? PackedMask { get; } = packedMask;
    /// <summary>Tokens that carry a label (the loss's denominator).</summary>
    public long LabelTokens { get; } = labelTokens;
    /// <summary>Real (non-padding) tokens processed.</summary>
    public long Tokens { get; } = tokens;

    public void Dispose()
    {
        InputIds.Dispose(); Labels.Dispose(); AttentionMask?.Dispose(); Positions?.Dispose(); PackedMask?.Dispose();
    }
}

/// <summary>
/// Plans the micro-batches of a run: examples are shuffled per epoch with a seeded generator, then grouped
/// (padded rows) or packed greedily into rows of at most <c>maxSeqLen</c> tokens. Packing isolates examples with a
/// block-diagonal causal mask AND restarts positions at 0 for every example, so a packed row computes exactly what the
/// examples would alone; the label at every segment's first token is dropped (its predecessor is another example).
/// </summary>
public sealed class SftBatchPlan
{
    private readonly IReadOnlyList<EncodedExample> _examples;
    private readonly List<int[][]> _microBatches = [];

    public SftBatchPlan(IReadOnlyList<EncodedExample> examples, int microBatchSize, int epochs, int seed, bool pack, int maxSeqLen)
    {
        if (examples.Count == 0) throw new ArgumentException("No training examples.", nameof(examples));
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        _examples = examples;
        Pack = pack;
        for (var epoch = 0; epoch < epochs; epoch++)
        {
            var order = Enumerable.Range(0, examples.Count).ToArray();
            new Random(StableSeed.Combine(seed, epoch)).Shuffle(order);
            var rows = new List<int[]>();
            if (pack)
            {
                var current = new List<int>();
                var length = 0;
                foreach (var index in order)
                {
                    var n = examples[index].InputIds.Length;
                    if (current.Count > 0 && length + n > maxSeqLen) { rows.Add([.. current]); current.Clear(); length = 0; }
                    current.Add(index);
                    length += n;
                }
                if (current.Count > 0) rows.Add([.. current]);
            }
            else
            {
                rows.AddRange(order.Select(i => new[] { i }));
            }
            // Each micro-batch is a list of rows; a row is a list of example indices (one unless packed).
            for (var i = 0; i < rows.Count; i += microBatchSize)
                _microBatches.Add(rows.Skip(i).Take(microBatchSize).SelectMany((row, r) => row.Select(e => new[] { r, e })).ToArray());
        }
    }

    public bool Pack { get; }
    public int Count => _microBatches.Count;

    /// <summary>Tokens that carry a loss in this micro-batch (a segment's first token never does: nothing precedes it).</summary>
    public long LabelTokens(int microBatch) => _microBatches[microBatch].Sum(p => (long)_examples[p[1]].Labels.Skip(1).Count(l => l != SftExampleEncoder.IgnoreIndex));

    public SftMicroBatch Materialise(int microBatch, Device device, int padId)
    {
        var pairs = _microBatches[microBatch];
        var rows = pairs.GroupBy(p => p[0]).OrderBy(g => g.Key).Select(g => g.Select(p => _examples[p[1]]).ToArray()).ToArray();
        var width = rows.Max(r => r.Sum(e => e.InputIds.Length));
        var b = rows.Length;
        var ids = new long[b * width];
        var labels = new long[b * width];
        var mask = new long[b * width];
        var positions = new long[b * width];
        var segment = new long[b * width];
        long labelTokens = 0, tokens = 0;
        Array.Fill(ids, padId);
        Array.Fill(labels, SftExampleEncoder.IgnoreIndex);
        Array.Fill(segment, -1);
        for (var r = 0; r < b; r++)
        {
            var offset = r * width;
            var s = 0;
            foreach (var example in rows[r])
            {
                for (var i = 0; i < example.InputIds.Length; i++)
                {
                    ids[offset] = example.InputIds[i];
                    // A segment's first token is predicted from nothing of its own (packed: from the previous example).
                    labels[offset] = i == 0 ? SftExampleEncoder.IgnoreIndex : example.Labels[i];
                    if (labels[offset] != SftExampleEncoder.IgnoreIndex) labelTokens++;
                    mask[offset] = 1;
                    positions[offset] = i;
                    segment[offset] = s;
                    offset++;
                    tokens++;
                }
                s++;
            }
        }
        var idsT = tensor(ids, [b, width], device: device);
        var labelsT = tensor(labels, [b, width], device: device);
        if (!Pack)
            return new SftMicroBatch(idsT, labelsT, tensor(mask, [b, width], device: device), null, null, labelTokens, tokens);
        using var seg = tensor(segment, [b, width], device: device);
        using var causal = ones([width, width], dtype: ScalarType.Bool, device: device).tril();
        var same = seg.unsqueeze(2).eq(seg.unsqueeze(1));
        // Padding positions (segment −1) see each other only, which keeps their softmax finite; their labels are −100.
        var packed = (same & causal.unsqueeze(0)).unsqueeze(1);
        same.Dispose();
        return new SftMicroBatch(idsT, labelsT, null, tensor(positions, [b, width], device: device), packed, labelTokens, tokens);
    }
}
