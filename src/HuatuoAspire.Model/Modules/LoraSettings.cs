namespace HuatuoAspire.Model.Modules;

/// <summary>LoRA settings, PEFT's <c>LoraConfig</c> fields: rank r, lora_alpha, lora_dropout, target_modules.</summary>
public sealed record LoraSettings(int Rank, double Alpha, double Dropout, IReadOnlyList<string> Targets)
{
    /// <summary>Every projection of attention and MLP (the lm_head is left alone, as PEFT does by default).</summary>
    public static readonly IReadOnlyList<string> DefaultTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public void Validate()
    {
        if (Rank < 1) throw new ArgumentException($"LoRA rank must be at least 1 (got {Rank}).");
        if (!(Alpha > 0)) throw new ArgumentException($"LoRA alpha must be positive (got {Alpha}).");
        if (Dropout is < 0 or >= 1 || double.IsNaN(Dropout)) throw new ArgumentException($"LoRA dropout must be in [0, 1) (got {Dropout}).");
        if (Targets.Count == 0 || Targets.Any(string.IsNullOrWhiteSpace)) throw new ArgumentException("LoRA needs at least one target module name (e.g. q_proj).");
    }
}
