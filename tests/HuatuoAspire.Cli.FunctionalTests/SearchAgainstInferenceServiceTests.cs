using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.Domain.Search;
using HuatuoAspire.LocalServers;
using HuatuoAspire.Model.UnitTests.StructuredOutput;
using HuatuoAspire.Reasoning.Construction;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Search;
using HuatuoAspire.Reasoning.Verification;
using Microsoft.AspNetCore.Builder;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>
/// The pipeline's default LLM is the project's own inference service. End to end: construction, the reasoning-path
/// search and the LLM judge, through Semantic Kernel, against the all-in-one host's inference service serving its
/// built-in untrained tiny model. They ask for JSON with a json_schema response format, which the service enforces by
/// constrained decoding: the replies are nonsense, but every one of them is well-formed JSON of the schema asked for.
/// </summary>
[Collection(InfrastructureCollection.Name)]
public sealed class SearchAgainstInferenceServiceTests(InfrastructureFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly MultipleChoiceQuestion[] Questions =
    [
        new("A 45-year-old man has crushing chest pain radiating to the left arm for an hour. Which test comes first?",
            [new("A", "Electrocardiogram"), new("B", "Chest CT"), new("C", "Echocardiogram"), new("D", "Stress test")], "A", "Electrocardiogram"),
        new("A child with a barking cough and inspiratory stridor worse at night most likely has which condition?",
            [new("A", "Epiglottitis"), new("B", "Croup"), new("C", "Asthma"), new("D", "Pneumonia")], "B", "Croup"),
        new("Which vitamin deficiency causes bleeding gums, poor wound healing and perifollicular haemorrhages in adults?",
            [new("A", "Vitamin A"), new("B", "Vitamin D"), new("C", "Vitamin C"), new("D", "Vitamin K")], "C", "Vitamin C"),
        new("A patient on lithium develops polyuria and polydipsia with dilute urine. What is the most likely cause of this?",
            [new("A", "Central diabetes insipidus"), new("B", "Nephrogenic diabetes insipidus"), new("C", "Diabetes mellitus"), new("D", "SIADH")], "B",
            "Nephrogenic diabetes insipidus"),
    ];

    [Fact]
    public async Task ConstructionSearchAndTheJudgeGetOnlyWellFormedJsonFromTheUntrainedDefaultModel()
    {
        var port = FreePort.Pick();
        await using var app = await AllInOneHost.CreateAsync(
            new AllInOneOptions(fixture.DataDirectory, $"http://127.0.0.1:{port}", []), fixture.Infrastructure, CancellationToken.None);
        await app.StartAsync();
        // The pipeline starts once the service says its model is loaded; before that it answers 503 model_not_loaded.
        using (var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") })
        {
            var (status, body) = await HostHealth.WaitForHealthyAsync(client, "/health/inference", TimeSpan.FromMinutes(2));
            Assert.True(status == System.Net.HttpStatusCode.OK, $"/health/inference: {status} {body}");
        }

        // The default endpoint as the workers configure it: no max_tokens, the service's own temperature.
        using var endpoint = new LlmEndpoint(new LlmEndpointOptions
        {
            Name = LlmConfiguration.DefaultEndpointName,
            BaseUrl = new Uri($"http://127.0.0.1:{port}/v1"),
            Model = "default",
            MaxRetries = 0,
            TimeoutSeconds = 300,
        });
        var replies = new List<(string Where, string Schema, string Reply)>();

        var construction = new ProblemConstruction(endpoint);
        foreach (var question in Questions)
        {
            var result = await construction.ConstructAsync(question);
            Assert.DoesNotContain("could not be read", result.RejectReason ?? "");
            Assert.NotEmpty(result.FilterRawOutputs);
            Assert.NotNull(result.Verdict);
            replies.AddRange(result.FilterRawOutputs.Select(r => ("construction filter", ConstructionPrompts.FilterSchema.Schema, r)));
            replies.AddRange(result.RewriteRawOutputs.Select(r => ("construction rewrite", ConstructionPrompts.RewriteSchema.Schema, r)));
        }

        var judge = new LlmJudgeVerifier(endpoint);
        var search = new ReasoningPathSearch(endpoint, judge, new SearchOptions { MaxDepth = 1, MaxAttempts = 1, Seed = 1 });
        for (var item = 0; item < 2; item++)
        {
            var result = await search.SearchAsync(Questions[item].Question, Questions[item].Answer, itemSeed: item);
            Assert.NotEmpty(result.Steps);
            foreach (var step in result.Steps.Where(s => s.Kind != SearchStepKind.FinalResponse))
            {
                var schema = step.Kind == SearchStepKind.Reformat ? SearchPrompts.ReformatSchema : CotStepSchema.Format;
                replies.AddRange(step.RawOutputs.Select(r => ($"search {step.Kind}", schema.Schema, r)));
                // The judge the search asks about each conclusion answers through the same service.
                if (step.Verdict?.RawOutput is { } judged) replies.Add(("search judge", LlmJudgeVerifier.Schema.Schema, judged));
            }
            // Usage comes back from the service: the prompt's tokens and the generated ones.
            Assert.True(result.Usage.InputTokens > 0 && result.Usage.OutputTokens > 0, $"usage: {result.Usage}");
        }

        for (var item = 0; item < 2; item++)
        {
            var verdict = await judge.VerifyAsync($"The answer is {Questions[item].Options[item].Value}.", Questions[item].Answer);
            Assert.DoesNotContain("neither True nor False", verdict.Reason);
            replies.Add(("judge", LlmJudgeVerifier.Schema.Schema, verdict.RawOutput!));
        }

        foreach (var group in replies.GroupBy(r => r.Where))
            output.WriteLine($"{group.Key}: {group.Count()} replies of {string.Join(", ", group.Select(r => r.Reply.Length))} characters");
        Assert.True(endpoint.StructuredOutputEnabled, "the service refused a schema, so the endpoint fell back to free text");
        Assert.Contains(replies, r => r.Where.StartsWith("search", StringComparison.Ordinal));
        Assert.Contains(replies, r => r.Where.StartsWith("construction", StringComparison.Ordinal));
        Assert.All(replies, r => Assert.True(TestSchemas.Problem(r.Schema, r.Reply) is null, $"{r.Where}: {TestSchemas.Problem(r.Schema, r.Reply)}"));
        await app.StopAsync();
    }
}
