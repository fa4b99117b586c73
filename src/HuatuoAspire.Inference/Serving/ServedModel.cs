using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Inference.Serving;

/// <summary>
/// A loaded model as the service serves it: the name clients ask for, its tokenizer and decoder, and its context
/// length. Owned by the scheduler once handed over; disposed when another model replaces it.
/// </summary>
public sealed class ServedModel(string id, string ownedBy, string source, HfTokenizer tokenizer, IBatchDecoder decoder, int contextLength)
    : IDisposable
{
    /// <summary>The model id every request may use for the model served now, whatever its own id.</summary>
    public const string DefaultAlias = "default";

    public string Id { get; } = id;

    /// <summary>Shown as <c>owned_by</c> in /v1/models: says where the weights came from (a folder, the built-in default).</summary>
    public string OwnedBy { get; } = ownedBy;

    /// <summary>The folder (or checkpoint) the weights were loaded from.</summary>
    public string Source { get; } = source;

    public HfTokenizer Tokenizer { get; } = tokenizer;
    public IBatchDecoder Decoder { get; } = decoder;

    /// <summary>Prompt plus completion may not exceed this many tokens.</summary>
    public int ContextLength { get; } = contextLength;

    public DateTimeOffset LoadedAt { get; } = DateTimeOffset.UtcNow;

    public void Dispose() => Decoder.Dispose();
}

/// <summary>What to load: a model folder and the name to serve it under.</summary>
public sealed record ModelLoadRequest(string Path, string ModelId, int MaxBatchSize, int? ContextLength, string? WeightDType = null);

/// <summary>Turns a model folder into a <see cref="ServedModel"/> (the model engine's loader in production).</summary>
public interface IServedModelLoader
{
    /// <summary>Loads a model folder; throws <see cref="InvalidDataException"/> or <see cref="DirectoryNotFoundException"/> naming what is wrong.</summary>
    Task<ServedModel> LoadAsync(ModelLoadRequest request, CancellationToken ct);

    /// <summary>Creates the small built-in model in <paramref name="folder"/> unless it is already there; returns the folder.</summary>
    Task<string> EnsureDefaultModelAsync(string folder, CancellationToken ct);
}
