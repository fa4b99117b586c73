namespace HuatuoAspire.Reasoning.Prompts;

/// <summary>The language a run's prompts ask the LLM to write in (chosen per run).</summary>
public enum PromptLanguage
{
    /// <summary>English.</summary>
    En,
    /// <summary>Chinese: the reference's Chinese-version prompts (for the Qwen-based, bilingual HuatuoGPT-o1-7B/72B).</summary>
    Zh,
}

public static class PromptLanguages
{
    /// <summary>"en" or "zh" (case-insensitive; null or empty: English).</summary>
    public static PromptLanguage Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "en" => PromptLanguage.En,
        "zh" => PromptLanguage.Zh,
        _ => throw new ArgumentException($"language must be en or zh, got '{text}'."),
    };

    public static string Name(this PromptLanguage language) => language == PromptLanguage.Zh ? "zh" : "en";
}
