using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Model.Tokenization.ChatTemplates;

namespace HuatuoAspire.Inference.Scheduling;

/// <summary>Messages → prompt token ids, as transformers' <c>apply_chat_template(messages, add_generation_prompt=True)</c>.</summary>
public static class ChatPromptEncoder
{
    public static IReadOnlyList<int> Encode(HfTokenizer tokenizer, IReadOnlyList<ChatMessage> messages)
    {
        if (tokenizer.Chat is not null)
        {
            // The template writes BOS itself where the model has one, so the tokenizer must not add it again.
            return tokenizer.Encode(tokenizer.ApplyChatTemplate(messages, addGenerationPrompt: true), addSpecialTokens: false);
        }
        // A folder without a chat template (a bare pretrained model): a plain transcript that ends where the reply starts.
        var text = string.Concat(messages.Select(m => $"{m.Role}: {m.Content}\n")) + "assistant: ";
        return tokenizer.Encode(text, addSpecialTokens: true);
    }
}
