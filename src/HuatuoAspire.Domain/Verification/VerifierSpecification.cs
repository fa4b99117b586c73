using System.Diagnostics.CodeAnalysis;

namespace HuatuoAspire.Domain.Verification;

/// <summary>
/// Which verifier judges answers, written as <c>rule</c>, <c>llm</c>, <c>llm:ENDPOINT</c>, <c>classifier:PATH</c> or
/// <c>classifier:blob:PREFIX</c>: the one grammar of the command line, the trainer API and the search. Parsed here
/// once; everything else takes this type.
/// </summary>
public sealed record VerifierSpecification
{
    public const string Grammar = "rule | llm | llm:ENDPOINT | classifier:PATH | classifier:blob:PREFIX";
    private const string LlmPrefix = "llm:";
    private const string ClassifierPrefix = "classifier:";
    private const string BlobScheme = "blob:";

    private VerifierSpecification(VerifierKind kind, string? endpoint, string? classifierModel)
    {
        Kind = kind;
        Endpoint = endpoint;
        ClassifierModel = classifierModel;
    }

    public VerifierKind Kind { get; }

    /// <summary>The LLM judge's named endpoint; null: the default endpoint of whoever builds the judge.</summary>
    public string? Endpoint { get; }

    /// <summary>The classifier's model: a folder on this machine or <c>blob:PREFIX</c>.</summary>
    public string? ClassifierModel { get; }

    /// <summary>True when the classifier's model is in blob storage (<c>classifier:blob:PREFIX</c>).</summary>
    public bool ClassifierIsBlob => ClassifierModel?.StartsWith(BlobScheme, StringComparison.Ordinal) == true;

    public static VerifierSpecification Rule { get; } = new(VerifierKind.Rule, null, null);

    public static VerifierSpecification Llm(string? endpoint = null) =>
        endpoint is null || endpoint.Trim().Length > 0
            ? new(VerifierKind.Llm, endpoint?.Trim(), null)
            : throw new ArgumentException("an LLM judge's endpoint name must not be blank.", nameof(endpoint));

    public static VerifierSpecification Classifier(string model) => TryParse(ClassifierPrefix + model, out var specification, out var error)
        ? specification
        : throw new ArgumentException(error, nameof(model));

    /// <summary>The specification, or a <see cref="FormatException"/> that names the grammar.</summary>
    public static VerifierSpecification Parse(string? text) =>
        TryParse(text, out var specification, out var error) ? specification : throw new FormatException(error);

    public static bool TryParse(string? text, [NotNullWhen(true)] out VerifierSpecification? specification, out string error)
    {
        specification = null;
        var value = text?.Trim() ?? "";
        if (value == "rule") specification = Rule;
        else if (value == "llm") specification = Llm();
        else if (value.StartsWith(LlmPrefix, StringComparison.Ordinal))
        {
            var endpoint = value[LlmPrefix.Length..].Trim();
            if (endpoint.Length > 0) specification = new(VerifierKind.Llm, endpoint, null);
            else { error = $"verifier '{text}' names no endpoint after 'llm:'; expected {Grammar}."; return false; }
        }
        else if (value.StartsWith(ClassifierPrefix, StringComparison.Ordinal))
        {
            var model = value[ClassifierPrefix.Length..].Trim();
            var blobPrefix = model.StartsWith(BlobScheme, StringComparison.Ordinal) ? model[BlobScheme.Length..].Trim('/', ' ') : null;
            if (model.Length == 0 || blobPrefix is { Length: 0 })
            {
                error = $"verifier '{text}' names no classifier model (a folder or blob:PREFIX); expected {Grammar}.";
                return false;
            }
            specification = new(VerifierKind.Classifier, null, model);
        }
        else
        {
            error = $"verifier '{text}' is not one of {Grammar}.";
            return false;
        }
        error = "";
        return true;
    }

    /// <summary>The text <see cref="Parse"/> reads back into an equal specification.</summary>
    public override string ToString() => Kind switch
    {
        VerifierKind.Rule => "rule",
        VerifierKind.Llm => Endpoint is null ? "llm" : LlmPrefix + Endpoint,
        _ => ClassifierPrefix + ClassifierModel,
    };
}
