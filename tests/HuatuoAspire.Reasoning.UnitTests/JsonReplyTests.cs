using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Verification;
using Microsoft.Extensions.Configuration;

namespace HuatuoAspire.Reasoning.UnitTests;

public sealed class JsonReplyTests
{
    [Theory]
    [InlineData("{\"a\": 1}")]
    [InlineData("```json\n{\"a\": 1}\n```")]
    [InlineData("Sure! Here is the JSON:\n{\"a\": 1}\nHope this helps.")]
    [InlineData("{\"a\": 1,}")]
    [InlineData("{\"a\": 1, // the value\n}")]
    [InlineData("{\"a\": 1, \"b\": \"line one\nline two\"}")]
    [InlineData("Text with {braces} first, then {\"a\": 1}")]
    public void ExtractsTheObjectModelsMeant(string reply)
    {
        Assert.True(JsonReply.TryParseObject(reply, out var json, out var error), error);
        Assert.Equal(1, (int)json["a"]!);
    }

    [Fact]
    public void RawLineBreaksInsideStringsSurvive()
    {
        Assert.True(JsonReply.TryParseObject("{\"b\": \"one\ntwo\"}", out var json, out _));
        Assert.Equal("one\ntwo", (string?)json["b"]);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("no json here", "no JSON object")]
    [InlineData("{\"a\": }", "invalid JSON")]
    public void SaysWhatIsWrong(string reply, string message)
    {
        Assert.False(JsonReply.TryParseObject(reply, out _, out var error));
        Assert.Contains(message, error);
    }

    [Theory]
    [InlineData("True", true)]
    [InlineData("false.", false)]
    [InlineData("{\"verdict\": \"False\"}", false)]
    [InlineData("{\"correct\": true}", true)]
    [InlineData("The response is correct: True", true)]
    [InlineData("True or False? Hard to say.", null)]
    [InlineData("Correct.", null)]
    public void JudgeVerdictIsParsed(string reply, bool? expected) => Assert.Equal(expected, LlmJudgeVerifier.ParseVerdict(reply));
}

public sealed class LlmConfigurationTests
{
    private static IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void InferenceServiceAddressBecomesTheDefaultEndpoint()
    {
        var endpoints = LlmConfiguration.ReadEndpoints(Configuration(("services:inference:http:0", "http://localhost:5123/")));
        var inference = endpoints[LlmConfiguration.DefaultEndpointName];
        Assert.Equal("http://localhost:5123/v1", inference.BaseUrl.ToString());
    }

    [Fact]
    public void TheDefaultEndpointSendsTheInferenceServicesKeyWhenOneIsSet()
    {
        var endpoints = LlmConfiguration.ReadEndpoints(Configuration(("services:inference:http:0", "http://localhost:5123/"), ("Inference:ApiKey", "sk-own")));
        Assert.Equal("sk-own", endpoints[LlmConfiguration.DefaultEndpointName].ApiKey);
    }

    [Fact]
    public void NamedEndpointsAreRead()
    {
        var endpoints = LlmConfiguration.ReadEndpoints(Configuration(
            ("Llm:Endpoints:judge:BaseUrl", "https://api.openai.com/v1"), ("Llm:Endpoints:judge:Model", "gpt-4o"),
            ("Llm:Endpoints:judge:Kind", "openai"), ("Llm:Endpoints:judge:MaxConcurrency", "16"),
            ("Llm:Endpoints:judge:InputCostPerMTok", "2.5"), ("Llm:Endpoints:judge:OutputCostPerMTok", "10")));
        var judge = endpoints["judge"];
        Assert.Equal(LlmEndpointKind.OpenAi, judge.Kind);
        Assert.Equal(16, judge.MaxConcurrency);
        Assert.Equal(0.0125m, judge.CostOf(1_000, 1_000));
    }

    [Theory]
    [InlineData("Llm:Endpoints:x:MaxConcurrency", "many", "Llm:Endpoints:x:MaxConcurrency must be a Int32, got 'many'")]
    [InlineData("Llm:Endpoints:x:Kind", "bedrock", "Llm:Endpoints:x:Kind must be openai-compatible, openai or azure-openai")]
    [InlineData("Llm:Endpoints:x:MaxRetries", "-1", "Llm:Endpoints:x:MaxRetries must not be negative")]
    public void BadValuesSayWhichKey(string key, string value, string message)
    {
        var error = Assert.Throws<LlmConfigurationException>(() => LlmConfiguration.ReadEndpoints(Configuration(
            ("Llm:Endpoints:x:BaseUrl", "http://127.0.0.1:1/v1"), ("Llm:Endpoints:x:Model", "m"), (key, value))));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void MissingBaseUrlIsReported() =>
        Assert.Contains("Llm:Endpoints:y:BaseUrl is required", Assert.Throws<LlmConfigurationException>(() =>
            LlmConfiguration.ReadEndpoints(Configuration(("Llm:Endpoints:y:Model", "m")))).Message);
}
