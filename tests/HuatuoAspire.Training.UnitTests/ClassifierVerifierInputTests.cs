using System.Text.Json;
using HuatuoAspire.Model.UnitTests.Tokenization;
using HuatuoAspire.Training.Scoring;

namespace HuatuoAspire.Training.UnitTests;

/// <summary>The classifier verifier's input against the reference RL script's get_reward_o1 rendering and tokenization.</summary>
public sealed class ClassifierVerifierInputTests
{
    // ppo_utils/ppo_trainer_medo1.py, get_reward_o1: the template exactly as the reference writes it (a Python
    // triple-quoted string filled with tmp.format(response, sub_answer[i], reward_tokenizer.eos_token)).
    private const string ReferenceTemplate = """
        <Model Response>
        {}
        </Model Response>

        <Reference Answer>
        {}
        </Reference Answer>

        Your task is to evaluate the model response by comparing it to the reference answer. If the model response is correct and aligns with the reference answer, output "True" . If it is incorrect or fails to select the correct option (if options are provided), output "False" . {}
        """;

    /// <summary>Python's positional <c>str.format</c> for bare <c>{}</c> fields.</summary>
    private static string PythonFormat(string template, params string[] values)
    {
        var parts = template.Split("{}");
        Assert.Equal(values.Length + 1, parts.Length);
        return string.Concat(parts.Zip(values.Append(""), (part, value) => part + value));
    }

    private static int[] OracleIdsWithoutSpecialTokens(string text)
    {
        var line = TokenizerFixtures.RunNode("tokenize.mjs", JsonSerializer.Serialize(text) + "\n", TokenizerFixtures.ModelFolder("llama3_1")).Trim();
        return JsonDocument.Parse(line).RootElement.GetProperty("plain").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    private const string Response = "The most likely diagnosis is **acute pancreatitis** (option C).";
    private const string Reference = "C. Acute pancreatitis";

    [Fact]
    public void ThePromptIsTheReferenceGetRewardO1RenderingWithTheEosText()
    {
        var tokenizer = TokenizerFixtures.Llama;
        Assert.Equal(PythonFormat(ReferenceTemplate, Response, Reference, tokenizer.EosToken!), ClassifierVerifier.Prompt(Response, Reference, tokenizer.EosToken));
        Assert.EndsWith("output \"False\" . <|eot_id|>", ClassifierVerifier.Prompt(Response, Reference, tokenizer.EosToken), StringComparison.Ordinal);
    }

    [Fact]
    public void TheTokenIdsAreTheReferenceTokenizationWithoutBosAndEndWithTheEosToken()
    {
        var tokenizer = TokenizerFixtures.Llama;
        var rendered = PythonFormat(ReferenceTemplate, Response, Reference, tokenizer.EosToken!);

        var ids = ClassifierVerifier.Encode(tokenizer, Response, Reference);

        Assert.Equal(OracleIdsWithoutSpecialTokens(rendered), ids);
        Assert.NotEqual(tokenizer.BosTokenId, ids[0]);
        Assert.Equal(tokenizer.TokenToId(tokenizer.EosToken!), ids[^1]);
    }

    [Fact]
    public void ALongResponseIsCutAtFourThousandTokensAsTheReferenceTruncates()
    {
        var tokenizer = TokenizerFixtures.Llama;
        var response = string.Concat(Enumerable.Repeat("Serum lipase is elevated three times the upper limit. ", 500));
        var rendered = PythonFormat(ReferenceTemplate, response, Reference, tokenizer.EosToken!);

        var ids = ClassifierVerifier.Encode(tokenizer, response, Reference);

        Assert.Equal(ClassifierVerifier.MaxInputTokens, ids.Count);
        Assert.Equal(OracleIdsWithoutSpecialTokens(rendered).Take(ClassifierVerifier.MaxInputTokens), ids);
    }
}
