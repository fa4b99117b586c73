using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace HuatuoAspire.Training.Scoring;

/// <summary>
/// The <c>medical_o1_verifier_3B</c> reward model: a 2-label sequence classifier read at the last token; "correct" is
/// label 1 with probability above the threshold (0.4). It is fed exactly the input it was trained on, the reference
/// RL script's <c>get_reward_o1</c> (ppo_utils/ppo_trainer_medo1.py): its template with the response, the reference
/// answer and the tokenizer's EOS text, tokenized with <c>add_special_tokens=False</c> (no BOS) and cut at 4000 tokens.
/// </summary>
public sealed class ClassifierVerifier : IAnswerVerifier, IDisposable
{
    /// <summary>The sentence after the two blocks, as the reference writes it (spaces before the periods included).</summary>
    public const string Instruction =
        "Your task is to evaluate the model response by comparing it to the reference answer. If the model response is correct and aligns with " +
        "the reference answer, output \"True\" . If it is incorrect or fails to select the correct option (if options are provided), output \"False\" .";

    /// <summary>The reference tokenizes with max_length=4000 and truncation (from the right).</summary>
    public const int MaxInputTokens = 4000;

    private readonly SequenceScoringModel _model;
    private readonly HfTokenizer _tokenizer;
    private readonly Lock _gate = new();

    public ClassifierVerifier(string directory, ModelPlacement? placement = null, double threshold = 0.4)
    {
        _model = SequenceScoringModel.FromPretrained(directory, 2, placement ?? ModelPlacement.Default);
        _tokenizer = HfTokenizer.FromFolder(directory);
        Threshold = threshold;
    }

    public string Name => "classifier";
    public double Threshold { get; }

    /// <summary>The reference's <c>tmp.format(response, sub_answer[i], reward_tokenizer.eos_token)</c>.</summary>
    public static string Prompt(string response, string reference, string? eosToken) =>
        $"<Model Response>\n{response}\n</Model Response>\n\n<Reference Answer>\n{reference}\n</Reference Answer>\n\n{Instruction} {eosToken}";

    /// <summary>The classifier's input ids: the prompt without special tokens added (its EOS text is the EOS token), at most 4000.</summary>
    public static IReadOnlyList<int> Encode(HfTokenizer tokenizer, string response, string reference)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var ids = tokenizer.Encode(Prompt(response, reference, tokenizer.EosToken), addSpecialTokens: false);
        return ids.Count <= MaxInputTokens ? ids : ids.Take(MaxInputTokens).ToList();
    }

    /// <summary>Probability of label 1 ("correct").</summary>
    public double ProbabilityCorrect(string response, string reference)
    {
        var ids = Encode(_tokenizer, response, reference);
        lock (_gate)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Count], device: _model.Placement.Device);
            var scores = _model.forward(input, null)[0, -1].to(ScalarType.Float32);
            return scores.softmax(0)[1].item<float>();
        }
    }

    public Task<VerificationResult> VerifyAsync(string response, string reference, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var p = ProbabilityCorrect(response, reference);
        return Task.FromResult(new VerificationResult(p > Threshold, $"p(correct) = {p:0.000} (threshold {Threshold})", Name));
    }

    public void Dispose() => _model.Dispose();
}
