namespace HuatuoAspire.Trainer.Uploads;

/// <summary>
/// A place in the project's blob storage written as <c>blob:PREFIX</c> (container huatuo), the form the trainer's
/// <c>model</c>/<c>data</c> fields and the inference service's <c>blob_prefix</c> take. Parsed once here.
/// </summary>
public sealed record BlobReference(string Name)
{
    public const string Scheme = "blob:";

    public override string ToString() => Scheme + Name;

    public static BlobReference Parse(string text)
    {
        if (!text.StartsWith(Scheme, StringComparison.Ordinal))
            throw new FormatException($"'{text}' is not a blob reference: write blob:PREFIX, e.g. blob:models/huatuogpt-o1-8b.");
        var name = text[Scheme.Length..].Trim('/');
        if (name.Length == 0) throw new FormatException($"'{text}' names no blob: write blob:PREFIX after the colon.");
        var segments = name.Split('/');
        if (segments.Any(s => s.Length == 0 || s is "." or ".."))
            throw new FormatException($"'{text}' has an empty, '.' or '..' segment: blob names are plain paths such as models/qwen2.5-7b.");
        if (name.Contains('\\')) throw new FormatException($"'{text}' contains a backslash: separate segments with '/'.");
        if (name.Length > 900) throw new FormatException($"'{text}' is longer than 900 characters (a blob name holds at most 1024, with the file names under it).");
        return new BlobReference(name);
    }
}
