using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Llm;

namespace HuatuoAspire.Reasoning.Verification;

/// <summary>
/// Builds the verifier a <see cref="VerifierSpecification"/> names: the one place that turns the specification into a
/// <see cref="RuleVerifier"/>, an <see cref="LlmJudgeVerifier"/> or a classifier. The classifier is a reward model on
/// the model engine, which this project does not reference: a stage that can run one (the trainer, <c>huatuo train</c>)
/// passes its loader; for the others a classifier specification is refused.
/// </summary>
public sealed class AnswerVerifierFactory(
    Func<string?, LlmEndpoint> judgeEndpoint,
    Func<string, CancellationToken, Task<IAnswerVerifier>>? loadClassifier = null)
{
    /// <summary>LLM judges on the configured endpoints (<c>llm</c>: the default one).</summary>
    public AnswerVerifierFactory(LlmEndpointRegistry endpoints, Func<string, CancellationToken, Task<IAnswerVerifier>>? loadClassifier = null)
        : this(endpoints.Get, loadClassifier)
    {
    }

    /// <summary>Whether <see cref="CreateAsync"/> can build a classifier verifier.</summary>
    public bool LoadsClassifiers => loadClassifier is not null;

    /// <summary>The verifier; a disposable one (a classifier) is the caller's to dispose.</summary>
    public async Task<IAnswerVerifier> CreateAsync(VerifierSpecification specification, CancellationToken cancellationToken = default) =>
        specification.Kind switch
        {
            VerifierKind.Rule => new RuleVerifier(),
            VerifierKind.Llm => new LlmJudgeVerifier(judgeEndpoint(specification.Endpoint)),
            VerifierKind.Classifier when loadClassifier is not null => await loadClassifier(specification.ClassifierModel!, cancellationToken).ConfigureAwait(false),
            _ => throw new ArgumentException($"verifier '{specification}': a classifier runs only in training; use rule or llm[:ENDPOINT] here."),
        };
}
