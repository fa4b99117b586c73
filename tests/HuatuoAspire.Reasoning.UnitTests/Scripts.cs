using System.Text.Json;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Reasoning.UnitTests;

/// <summary>Replies and endpoints for tests against a real ScriptedChatServer.</summary>
internal static class Scripts
{
    public static string Cot(string conclusion, bool refinement = false, string thinking = "Reticulocytes are low, so production failed.")
    {
        var steps = new List<object>();
        if (refinement) steps.Add(new { action = "Verification", title = "", content = "The previous conclusion was wrong." });
        steps.Add(new { action = "Inner Thinking", title = "Look at the findings", content = thinking });
        steps.Add(new { action = "Final Conclusion", title = "", content = conclusion });
        steps.Add(new { action = "Verification", title = "", content = "The conclusion fits the findings." });
        return JsonSerializer.Serialize(new { CoT = steps });
    }

    public static string Natural(string text = "Hmm, the reticulocytes are low.\nSo the marrow stopped.\nParvovirus B19 fits.") =>
        JsonSerializer.Serialize(new { NaturalReasoning = text });

    public static LlmEndpoint Endpoint(ScriptedChatServer server, Func<LlmEndpointOptions, LlmEndpointOptions>? configure = null, LlmUsageLedger? ledger = null)
    {
        var options = new LlmEndpointOptions
        {
            Name = "test",
            BaseUrl = server.BaseUri,
            Model = "scripted-model",
            ApiKey = "test-key",
            MaxRetries = 2,
            RetryBaseDelaySeconds = 0.01,
            TimeoutSeconds = 10,
        };
        return new LlmEndpoint(configure is null ? options : configure(options), ledger);
    }

    /// <summary>The prompt a request answers: its first user message (a repair turn adds more after it).</summary>
    public static string Prompt(RecordedRequest request) => request.Messages.FirstOrDefault(m => m.Role == "user")?.Content ?? "";

    public static bool IsInitial(RecordedRequest request) => Prompt(request).StartsWith("<question>", StringComparison.Ordinal) && !Prompt(request).Contains("<previous reasoning>");
    public static bool IsRefinement(RecordedRequest request) => Prompt(request).Contains("<previous reasoning>");
    public static bool IsReformat(RecordedRequest request) => Prompt(request).StartsWith("<Thought Process>", StringComparison.Ordinal);
    public static bool IsFinalResponse(RecordedRequest request) => Prompt(request).StartsWith("<Internal Thinking>", StringComparison.Ordinal);
    public static bool IsJudge(RecordedRequest request) => Prompt(request).StartsWith("<Model Response>", StringComparison.Ordinal);
}
