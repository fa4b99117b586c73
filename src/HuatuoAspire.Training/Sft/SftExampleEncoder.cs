using HuatuoAspire.Domain;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Model.Tokenization.ChatTemplates;
using HuatuoAspire.Training.Data;

namespace HuatuoAspire.Training.Sft;

/// <summary>A tokenised example: ids and labels (−100 where no loss is taken) of equal length.</summary>
public sealed record EncodedExample(int[] InputIds, int[] Labels, bool Truncated)
{
    public int LabelCount => Labels.Count(l => l != SftExampleEncoder.IgnoreIndex);
}

/// <summary>
/// Renders (question, CoT, response) with the model's chat template and masks the prompt: the loss covers only the
/// assistant turn (<see cref="ReasoningFormat.Compose"/>) and what the template writes after it (the end-of-turn
/// token). Over-long examples keep their last <c>maxSeqLen</c> tokens, as the reference does. A tokenizer without a
/// chat template gets the reference's Llama-3 fallback.
/// </summary>
public sealed class SftExampleEncoder(HfTokenizer tokenizer, int maxSeqLen)
{
    public const int IgnoreIndex = -100;

    /// <summary>
    /// The Llama-3-Instruct template SFT_stage1.py of FreedomIntelligence/HuatuoGPT-o1 sets on a tokenizer without a
    /// chat_template ("if training from a base LLM"), reproduced exactly so a base model is trained on the same text.
    /// </summary>
    public const string FallbackChatTemplate =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    /// <summary>The tokenizer's own chat template, else <see cref="FallbackChatTemplate"/> with its BOS token (empty when it has none).</summary>
    public ChatTemplate Template { get; } = tokenizer.Chat ?? new ChatTemplate(FallbackChatTemplate,
        new Dictionary<string, string> { ["bos_token"] = tokenizer.BosToken ?? "" });

    public HfTokenizer Tokenizer { get; } = tokenizer;
    public int MaxSeqLen { get; } = maxSeqLen > 1 ? maxSeqLen : throw new ArgumentOutOfRangeException(nameof(maxSeqLen), "max_seq_len must be at least 2.");

    /// <summary>The prompt ids a generator continues from (the same text the SFT prompt part is).</summary>
    public IReadOnlyList<int> EncodePrompt(string question) =>
        Tokenizer.Encode(RenderPrompt(question), addSpecialTokens: false);

    public string RenderPrompt(string question) =>
        Template.Render([new ChatMessage("user", question)], addGenerationPrompt: true);

    public EncodedExample Encode(SftRecord record)
    {
        var prompt = RenderPrompt(record.Question);
        var assistant = ReasoningFormat.Compose(record.ComplexCot, record.Response);
        var full = Template.Render([new ChatMessage("user", record.Question), new ChatMessage("assistant", assistant)], addGenerationPrompt: false);
        if (!full.StartsWith(prompt, StringComparison.Ordinal))
            throw new TrainingDataException("The chat template renders the conversation with a prompt that differs from its generation prompt; the assistant turn cannot be located.");
        // Tokenising the two parts apart puts the boundary exactly at the assistant turn.
        var promptIds = Tokenizer.Encode(prompt, addSpecialTokens: false);
        var answerIds = Tokenizer.Encode(full[prompt.Length..], addSpecialTokens: false);
        var length = promptIds.Count + answerIds.Count;
        var ids = new int[length];
        var labels = new int[length];
        for (var i = 0; i < promptIds.Count; i++) { ids[i] = promptIds[i]; labels[i] = IgnoreIndex; }
        for (var i = 0; i < answerIds.Count; i++) { ids[promptIds.Count + i] = answerIds[i]; labels[promptIds.Count + i] = answerIds[i]; }
        if (length <= MaxSeqLen) return new EncodedExample(ids, labels, false);
        return new EncodedExample(ids[^MaxSeqLen..], labels[^MaxSeqLen..], true);
    }
}
