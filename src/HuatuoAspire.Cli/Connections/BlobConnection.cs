using System.CommandLine;
using HuatuoAspire.Storage;

namespace HuatuoAspire.Cli.Connections;

/// <summary>How the blob commands reach storage: <c>--blobs</c>, else ConnectionStrings__blobs (as Aspire and the
/// Azure deployment inject it).</summary>
public static class BlobConnection
{
    public const string EnvironmentVariable = "ConnectionStrings__blobs";

    public static readonly Option<string?> Option = new("--blobs")
    {
        Description = $"Azure Storage connection string, or the account's blob endpoint alone to sign in with Entra ID (default: environment variable {EnvironmentVariable}).",
    };

    public static ArtifactStore OpenStore(ParseResult parse)
    {
        var connection = parse.GetValue(Option) ?? Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(connection))
            throw new InvalidOperationException($"No blob storage configured: pass --blobs or set {EnvironmentVariable} to an Azure Storage connection string.");
        try
        {
            return new ArtifactStore(BlobServiceClients.Create(connection));
        }
        catch (FormatException e)
        {
            throw new InvalidOperationException($"The blob connection string is not valid: {e.Message}");
        }
    }
}
