using System.Text.Json;
using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// A two-benchmark file (5 questions) and a scripted model's answers to it: q0 right after the final-response header,
/// q1 right by option text, q2 empty (unparsed), q3 right, q4 wrong.
/// </summary>
public static class ScriptedBenchmark
{
    public static readonly string Json = JsonSerializer.Serialize(new Dictionary<string, object[]>
    {
        ["MedQA_USLME_test"] =
        [
            new { question = "Which drug is an anticoagulant (q0)?", options = new { A = "Aspirin", B = "Heparin", C = "Paracetamol" }, answer_idx = "B", answer = "Heparin" },
            new { question = "Which vitamin deficiency causes scurvy (q1)?", options = new { A = "Vitamin C", B = "Vitamin D" }, answer_idx = "A", answer = "Vitamin C" },
            new { question = "Which organ makes insulin (q2)?", options = new { A = "Liver", B = "Pancreas" }, answer_idx = "B", answer = "Pancreas" },
        ],
        ["PubMedQA_test"] =
        [
            new { question = "Does smoking raise lung cancer risk (q3)?", options = new { A = "yes", B = "no", C = "maybe" }, answer_idx = "A", answer = "yes" },
            new { question = "Does vitamin C cure the common cold (q4)?", options = new { A = "yes", B = "no", C = "maybe" }, answer_idx = "B", answer = "no" },
        ],
    });

    public static ScriptedReply Answer(RecordedRequest request)
    {
        var text = request.LastUserMessage;
        if (text.Contains("(q0)", StringComparison.Ordinal)) return ScriptedReply.Text("## Thinking\n\nHeparin inhibits thrombin.\n\n## Final Response\n\nThe answer is B.");
        if (text.Contains("(q1)", StringComparison.Ordinal)) return ScriptedReply.Text("Vitamin C, of course.");
        if (text.Contains("(q2)", StringComparison.Ordinal)) return ScriptedReply.Text("");
        return ScriptedReply.Text("The answer is A.");
    }
}
