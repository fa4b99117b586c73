namespace HuatuoAspire.Inference.Serving;

/// <summary>The <c>Inference</c> configuration section.</summary>
public sealed class InferenceOptions
{
    public const string SectionName = "Inference";

    /// <summary>The model folder to serve. When empty, a small default model is created once in <see cref="DefaultModelDir"/>.</summary>
    public string? ModelPath { get; set; }

    /// <summary>The name clients use in <c>model</c>; defaults to the folder's name.</summary>
    public string? ModelId { get; set; }

    public int MaxBatchSize { get; set; } = 8;

    /// <summary>
    /// Prompt tokens prefilled per scheduler step at most (chunked prefill): the waiting prompts of a step are prefilled
    /// together in one forward pass up to this many tokens, a longer prompt continues in the next step, and every step
    /// also decodes one token for each running stream, so newcomers never stall running streams for a whole prompt.
    /// On CPU prefill is compute-bound, so packing more prompts into one pass saves little and makes the first in line
    /// wait for the others: a budget of about two prompts keeps first tokens in arrival order and bounds the stall a
    /// running stream sees to one such pass. On a GPU, where one pass over many prompts costs about as much as one
    /// over a single prompt, raise it (2048-8192).
    /// </summary>
    public int PrefillTokenBudget { get; set; } = 256;

    /// <summary>Requests waiting for a batch slot beyond this many are refused with 429.</summary>
    public int MaxQueue { get; set; } = 64;

    /// <summary>Caps the model's own context length (prompt + completion tokens) when set.</summary>
    public int? ContextLength { get; set; }

    /// <summary>
    /// How the served model's matrices are held: <c>f32</c>, <c>bf16</c> or <c>int8</c> (CPU; quantized at load), or
    /// <c>auto</c> (fp32 on CPU, bf16 on CUDA). <c>--dtype</c> of <c>huatuo serve</c>.
    /// </summary>
    public string? WeightDType { get; set; }

    /// <summary>When set, every /v1 request must send <c>Authorization: Bearer {ApiKey}</c>.</summary>
    public string? ApiKey { get; set; }

    public string DefaultModelDir { get; set; } = Path.Combine(".data", "models", "default");

    /// <summary>
    /// Where checkpoints switched in from blob storage are downloaded to (one folder per prefix); default:
    /// <c>checkpoints</c> beside <see cref="DefaultModelDir"/>, so the cache stays in the instance's data folder.
    /// </summary>
    public string? CheckpointCacheDir { get; set; }

    /// <summary><see cref="CheckpointCacheDir"/> or its default, as a full path.</summary>
    public string CheckpointCacheFolder() => Path.GetFullPath(CheckpointCacheDir
        ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(DefaultModelDir)) ?? ".", "checkpoints"));

    /// <summary>Seconds a client is told to wait (Retry-After) when the queue is full.</summary>
    public int RetryAfterSeconds { get; set; } = 1;
}
