using System.Text.Json;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.AppHost.FunctionalTests;

/// <summary>
/// The external LLM of the AppHost tests: a scripted OpenAI-compatible server that answers the construction filter
/// and rewrite, the search's chain of thought, the judge and the rewrite into natural reasoning, by their prompts.
/// </summary>
internal static class PipelineScript
{
    public static ScriptedReply Answer(RecordedRequest request)
    {
        var prompt = request.Messages.First(m => m.Role == "user").Content;
        if (prompt.StartsWith("<Multiple-choice Question>", StringComparison.Ordinal)) return ScriptedReply.Text("{\"verdict\": \"Pass\"}");
        if (prompt.StartsWith("Rewrite the multiple-choice question", StringComparison.Ordinal))
        {
            var answer = prompt.Split("Correct Answer: ")[1].Split('\n')[0];
            return ScriptedReply.Text(JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["Open-ended Verifiable Question"] = "Which drug clears the dormant liver stage of vivax malaria?",
                ["Ground-True Answer"] = answer,
            }));
        }
        if (prompt.StartsWith("<Thought Process>", StringComparison.Ordinal))
            return ScriptedReply.Text(JsonSerializer.Serialize(new { NaturalReasoning = "Let me think.\nThe finding points one way." }));
        if (prompt.StartsWith("<Internal Thinking>", StringComparison.Ordinal)) return ScriptedReply.Text("The answer follows from the findings.");
        if (prompt.StartsWith("<Model Response>", StringComparison.Ordinal)) return ScriptedReply.Text("True");
        return ScriptedReply.Text(JsonSerializer.Serialize(new
        {
            CoT = new object[]
            {
                new { action = "Inner Thinking", title = "Findings", content = "Weigh the findings." },
                new { action = "Final Conclusion", title = "", content = "The conclusion." },
                new { action = "Verification", title = "", content = "It holds." },
            },
        }));
    }
}
