using HuatuoAspire.Model;
using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Inference.Serving;

/// <summary>Loads Hugging Face model folders with the model engine (TorchSharp): fp32 on CPU, bf16 on CUDA, or as <c>Inference:WeightDType</c> says.</summary>
public sealed class EngineModelLoader(ILogger<EngineModelLoader> logger) : IServedModelLoader
{
    /// <summary>Without a configured limit the KV cache is sized for this many tokens: real checkpoints allow 32k-128k, which would reserve gigabytes per slot.</summary>
    public const int DefaultContextCap = 4096;

    public Task<ServedModel> LoadAsync(ModelLoadRequest request, CancellationToken ct) => Task.Run(() =>
    {
        if (!File.Exists(Path.Combine(request.Path, "config.json")))
            throw new InvalidDataException($"'{request.Path}' is not a Hugging Face model folder: it has no config.json.");
        var tokenizer = HfTokenizer.FromFolder(request.Path);
        ModelPlacement placement;
        try
        {
            placement = ModelPlacement.ForWeights(null, request.WeightDType);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"Inference:WeightDType: {e.Message}");
        }
        var model = CausalLanguageModel.FromPretrained(request.Path, placement);
        try
        {
            var context = Math.Min(request.ContextLength ?? DefaultContextCap, model.Config.MaxPositionEmbeddings);
            var decoder = new BatchedDecoder(model, request.MaxBatchSize, context, tokenizer.EosTokenIds);
            var owner = File.Exists(Path.Combine(request.Path, DefaultModelMarker))
                ? "huatuo (built-in default: random tiny Llama, byte tokenizer)"
                : "huatuo (" + request.Path + ")";
            if (placement.Weights != WeightStorage.Compute) owner += $", {placement.WeightsName} weights";
            logger.LogInformation("Loaded {Path}: {Parameters:N0} parameters, {Weights} weights ({WeightMiB:N0} MiB), context {Context}, batch {Batch}.",
                request.Path, model.ParameterCount, placement.WeightsName, model.WeightBytes >> 20, decoder.MaxLength, decoder.Capacity);
            return new ServedModel(request.ModelId, owner, request.Path, tokenizer, new EngineBatchDecoder(model, decoder), decoder.MaxLength);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }, ct);

    private const string DefaultModelMarker = "huatuo-default-model.txt";

    public Task<string> EnsureDefaultModelAsync(string folder, CancellationToken ct) => Task.Run(() =>
    {
        if (File.Exists(Path.Combine(folder, DefaultModelMarker))) return folder;
        logger.LogInformation("No Inference:ModelPath is set: creating the built-in tiny model in {Folder}.", folder);
        using (ModelPresets.Create(folder, ModelArchitecture.Llama, ModelPreset.Tiny, "byte", seed: 0)) { }
        // Written last: a folder interrupted while being written is made again next time.
        File.WriteAllText(Path.Combine(folder, DefaultModelMarker),
            "Made by the inference service because Inference:ModelPath was not set: `huatuo model init --arch llama --preset tiny --tokenizer byte`. Random weights.\n");
        return folder;
    }, ct);
}

/// <summary>
/// The engine's <see cref="BatchedDecoder"/> behind the scheduler's contract. Sequences the engine ends itself
/// (a stop token, or the cache is full) are reported as released.
/// </summary>
public sealed class EngineBatchDecoder(CausalLanguageModel model, BatchedDecoder decoder) : IBatchDecoder
{
    public int MaxBatchSize => decoder.Capacity;

    public int Join(IReadOnlyList<int> promptIds, SamplingSettings sampling, ITokenConstraint? constraint = null)
    {
        var options = new SamplingOptions
        {
            Temperature = sampling.Temperature,
            TopP = sampling.TopP,
            Seed = sampling.Seed is { } seed ? unchecked((int)seed) : null,
            TopLogprobs = sampling.TopLogprobs,
            // The scheduler enforces max_tokens and stop strings; the engine only has to stop at the cache's end.
            MaxNewTokens = decoder.MaxLength,
        };
        return checked((int)decoder.Join(promptIds, options, constraint));
    }

    public IReadOnlyList<SlotToken> Step(int prefillTokenBudget) => decoder.Step(prefillTokenBudget).Select(ToSlotToken).ToList();

    public void Remove(int slot) => decoder.Remove(slot);

    // The engine drops a finished sequence from its batch by itself.
    private static SlotToken ToSlotToken(DecodedToken t) =>
        new(checked((int)t.SequenceId), t.Token.TokenId, t.Finished, t.Token.RawLogProb, t.TopLogprobs);

    public void Dispose()
    {
        decoder.Dispose();
        model.Dispose();
    }
}
