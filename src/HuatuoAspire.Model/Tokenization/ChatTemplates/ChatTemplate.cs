using HuatuoAspire.Jinja;

namespace HuatuoAspire.Model.Tokenization.ChatTemplates;

/// <summary>One turn of a conversation: role ("system", "user", "assistant", "tool") and its text.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// A model's chat template with the variables transformers' <c>apply_chat_template</c> passes: <c>messages</c>,
/// <c>add_generation_prompt</c>, <c>tools</c> and <c>documents</c> (none unless given) and the tokenizer's
/// special tokens (<c>bos_token</c>, <c>eos_token</c>, <c>pad_token</c>) where it has them.
/// </summary>
public sealed class ChatTemplate
{
    private readonly JinjaTemplate _template;
    private readonly IReadOnlyDictionary<string, object?> _specialTokens;

    public ChatTemplate(string source, IReadOnlyDictionary<string, string>? specialTokens = null)
    {
        _template = new JinjaTemplate(source);
        _specialTokens = (specialTokens ?? new Dictionary<string, string>()).ToDictionary(kv => kv.Key, kv => (object?)kv.Value);
    }

    public string Source => _template.Source;

    public string Render(IEnumerable<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? variables = null, TimeProvider? clock = null) =>
        RenderMessages(messages.Select(m => new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList(), addGenerationPrompt, variables, clock);

    /// <summary>Renders messages given as JSON (a JsonArray of objects) or dictionaries, for fields beyond role and content (tool_calls, reasoning_content).</summary>
    public string RenderMessages(object messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? variables = null, TimeProvider? clock = null)
    {
        var context = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = messages,
            ["add_generation_prompt"] = addGenerationPrompt,
            ["tools"] = null,
            ["documents"] = null,
        };
        foreach (var (name, token) in _specialTokens) context[name] = token;
        if (variables is not null) foreach (var (name, value) in variables) context[name] = value;
        return _template.Render(context, clock);
    }
}
