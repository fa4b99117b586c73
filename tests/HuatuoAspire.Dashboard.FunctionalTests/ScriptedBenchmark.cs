using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
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

    /// <summary>The file evaluated against <paramref name="url"/> through the workers' API, to the end; the run's id.</summary>
    public static async Task<long> EvaluateAsync(HttpClient client, string url, string model = "scripted-model")
    {
        using var form = new MultipartFormDataContent { { new StringContent(url), "url" }, { new StringContent(model), "model" } };
        var benchmark = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(Json));
        benchmark.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        form.Add(benchmark, "file", "benchmarks.json");
        var started = await client.PostAsync("/api/evaluation-runs", form);
        Assert.True(started.StatusCode == HttpStatusCode.Accepted, await started.Content.ReadAsStringAsync());
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<long>();
        var run = await RunsToEnd.EvaluationAsync(client, id, TimeSpan.FromMinutes(1));
        Assert.True(run["status"]!.GetValue<string>() == "Succeeded", run.ToJsonString());
        return id;
    }
}
