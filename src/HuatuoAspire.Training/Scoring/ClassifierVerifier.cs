using HuatuoAspire.Model;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Reasoning.Verification;
using TorchSharp;
using static TorchSharp.torch;

namespace HuatuoAspire.Training.Scoring;

/// <summary>
/// The <c>medical_o1_verifier_3B</c>-style reward model: a 2-label sequence classifier read at the last token of
/// <c>&lt;Model Response&gt;…&lt;/Model Response&gt;\n&lt;Reference Answer&gt;…&lt;/Reference Answer&gt;</c> + the
/// instruction + EOS; "correct" is label 1 with probability above the threshold (0.4).
/// </summary>
public sealed class ClassifierVerifier : IAnswerVerifier, IDisposable
{
    public const string Instruction =
        "\n\nYou are provided with a model-generated response (<Model Response>) and a reference answer (<Reference Answer>). " +
        "Compare the model response with the reference answer and determine its correctness. Your task is to simply output \"True\" if the response is correct, and \"False\" otherwise.";

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

    public static string Prompt(string response, string reference, string? eosToken) =>
        $"<Model Response>\n{response}\n</Model Response>\n\n<Reference Answer>\n{reference}\n</Reference Answer>{Instruction}{eosToken}";

    /// <summary>Probability of label 1 ("correct").</summary>
    public double ProbabilityCorrect(string response, string reference)
    {
        var ids = _tokenizer.Encode(Prompt(response, reference, _tokenizer.EosToken), addSpecialTokens: true);
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
