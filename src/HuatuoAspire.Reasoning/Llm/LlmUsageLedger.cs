using HuatuoAspire.Domain;

namespace HuatuoAspire.Reasoning.Llm;

/// <summary>Token usage and cost summed over a job, per endpoint; safe to share between concurrent items.</summary>
public sealed class LlmUsageLedger
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, LlmUsage> _byEndpoint = new(StringComparer.Ordinal);

    public void Add(string endpoint, LlmUsage usage)
    {
        lock (_gate) _byEndpoint[endpoint] = _byEndpoint.GetValueOrDefault(endpoint, LlmUsage.None) + usage;
    }

    public LlmUsage Total
    {
        get { lock (_gate) return _byEndpoint.Values.Aggregate(LlmUsage.None, (sum, usage) => sum + usage); }
    }

    public IReadOnlyDictionary<string, LlmUsage> ByEndpoint
    {
        get { lock (_gate) return new Dictionary<string, LlmUsage>(_byEndpoint); }
    }
}
