using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Jinja;
using HuatuoAspire.Model.Tokenization.ChatTemplates;

namespace HuatuoAspire.Model.UnitTests.Tokenization;

/// <summary>
/// Our Jinja interpreter on real chat templates and a set of conversations, against two references: @huggingface/jinja
/// run live through node, and Python's Jinja2 as transformers configures it (renderings committed in
/// chat_template_jinja2.json by jinja_reference.py).
/// </summary>
public sealed class ChatTemplateOracleTests
{
    private sealed record Job(string Template, JsonObject Context, string Label, bool Jinja2Only);

    private sealed record Rendered(string? Text, string? Error);

    public static TheoryData<string> TemplateNames => ["llama3_1", "qwen2_5", "qwen3", "llama3"];

    /// <summary>The template source and the variables apply_chat_template would pass with it.</summary>
    public static (string Source, JsonObject Specials) Template(string name) => name switch
    {
        "llama3_1" => (File.ReadAllText(TokenizerFixtures.TestFile("templates/llama3_1.jinja")),
            new JsonObject { ["bos_token"] = "<|begin_of_text|>", ["eos_token"] = "<|eot_id|>", ["date_string"] = "15 Mar 2025" }),
        "qwen2_5" => (File.ReadAllText(TokenizerFixtures.TestFile("templates/qwen2_5.jinja")),
            new JsonObject { ["eos_token"] = "<|im_end|>", ["pad_token"] = "<|endoftext|>" }),
        "qwen3" => (TokenizerFixtures.Qwen.ChatTemplate!, new JsonObject { ["eos_token"] = "<|im_end|>", ["pad_token"] = "<|endoftext|>" }),
        "llama3" => (TokenizerFixtures.Llama.ChatTemplate!, new JsonObject { ["bos_token"] = "<|begin_of_text|>", ["eos_token"] = "<|eot_id|>" }),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static IEnumerable<Job> Jobs(string name)
    {
        var (source, specials) = Template(name);
        var cases = JsonNode.Parse(File.ReadAllText(TokenizerFixtures.TestFile("chat_template_cases.json")))!.AsArray();
        foreach (var testCase in cases)
        {
            foreach (var addGenerationPrompt in new[] { false, true })
            {
                var context = specials.DeepClone().AsObject();
                context["messages"] = testCase!["messages"]!.DeepClone();
                context["add_generation_prompt"] = addGenerationPrompt;
                context["tools"] = testCase["tools"]?.DeepClone();
                context["documents"] = null;
                if (testCase["variables"] is JsonObject variables)
                    foreach (var (key, value) in variables) context[key] = value?.DeepClone();
                yield return new Job(source, context, $"{name}/{testCase["name"]}/add_generation_prompt={addGenerationPrompt}", testCase["jinja2_only"] is not null);
            }
        }
    }

    [Theory]
    [MemberData(nameof(TemplateNames))]
    public void RendersEveryConversationExactlyAsHuggingFaceJinja(string name)
    {
        var jobs = Jobs(name).Where(j => !j.Jinja2Only).ToList();
        var stdin = new JsonArray(jobs.Select(j => (JsonNode)new JsonObject { ["template"] = j.Template, ["context"] = j.Context.DeepClone() }).ToArray()).ToJsonString();
        var references = JsonSerializer.Deserialize<Rendered[]>(TokenizerFixtures.RunNode("render.mjs", stdin),
            new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        Assert.Equal(jobs.Count, references.Length);
        var template = new JinjaTemplate(jobs[0].Template);
        var rendered = 0;
        for (var i = 0; i < jobs.Count; i++)
        {
            var variables = jobs[i].Context.ToDictionary(kv => kv.Key, kv => (object?)kv.Value);
            if (references[i].Error is { } error)
            {
                var failure = Record.Exception(() => template.Render(variables));
                if (failure is not JinjaException)
                    throw new Xunit.Sdk.XunitException($"{jobs[i].Label}: the reference failed ({error}) but we did not ({failure?.Message ?? "rendered"}).");
                continue;
            }
            string ours;
            try { ours = template.Render(variables); }
            catch (JinjaException e) { throw new Xunit.Sdk.XunitException($"{jobs[i].Label}: we failed ({e.Message}) where the reference rendered:\n{references[i].Text}"); }
            if (ours != references[i].Text)
                throw new Xunit.Sdk.XunitException($"{jobs[i].Label} differs.\n--- reference ---\n{references[i].Text}\n--- ours ---\n{ours}");
            rendered++;
        }
        Assert.True(rendered >= jobs.Count / 2, $"only {rendered} of {jobs.Count} conversations rendered without error");
    }

    [Theory]
    [MemberData(nameof(TemplateNames))]
    public void RendersEveryConversationExactlyAsPythonJinja2(string name)
    {
        var jobs = Jobs(name).ToList();
        var references = JsonNode.Parse(File.ReadAllText(TokenizerFixtures.TestFile("chat_template_jinja2.json")))!.AsArray()
            .Where(r => (string?)r!["template"] == name).ToList();
        Assert.Equal(jobs.Count, references.Count);
        var template = new JinjaTemplate(jobs[0].Template);
        for (var i = 0; i < jobs.Count; i++)
        {
            var variables = jobs[i].Context.ToDictionary(kv => kv.Key, kv => (object?)kv.Value);
            var expected = (string?)references[i]!["text"] ?? throw new Xunit.Sdk.XunitException($"{jobs[i].Label}: Jinja2 failed: {references[i]!["error"]}");
            Assert.Equal($"{jobs[i].Label}\n{expected}", $"{jobs[i].Label}\n{template.Render(variables)}");
        }
    }

    [Fact]
    public void TokenizerAppliesItsOwnTemplateWithItsSpecialTokens()
    {
        var messages = new[] { new ChatMessage("system", "You are a doctor."), new ChatMessage("user", "Chest pain for 3 hours?") };
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a doctor.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nChest pain for 3 hours?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            TokenizerFixtures.Llama.ApplyChatTemplate(messages));
        Assert.Equal(
            "<|im_start|>system\nYou are a doctor.<|im_end|>\n<|im_start|>user\nChest pain for 3 hours?<|im_end|>\n<|im_start|>assistant\n",
            TokenizerFixtures.Qwen.ApplyChatTemplate(messages));
        var ids = TokenizerFixtures.Qwen.Encode(TokenizerFixtures.Qwen.ApplyChatTemplate(messages, addGenerationPrompt: false));
        Assert.Equal(151644, ids[0]); // <|im_start|> is split out of the rendered text as one token
        Assert.Equal(151645, ids[^2]);

        var llamaIds = TokenizerFixtures.Llama.EncodeChat(messages);
        Assert.Single(llamaIds, id => id == 128000); // the template's BOS only, none added on top
        Assert.Equal(128000, llamaIds[0]);
        Assert.Equal(TokenizerFixtures.Llama.Encode(TokenizerFixtures.Llama.ApplyChatTemplate(messages), addSpecialTokens: false), llamaIds);
    }
}
