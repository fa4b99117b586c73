using Azure.Identity;
using Azure.Storage.Blobs;

namespace HuatuoAspire.Storage;

/// <summary>
/// A blob service client from the <c>blobs</c> connection as Aspire and the Azure deployment give it: a connection
/// string (Azurite, or an account key), or the account's blob endpoint alone (<c>https://ACCOUNT.blob.core.windows.net/</c>),
/// reached with Entra ID: <see cref="DefaultAzureCredential"/>, which on Azure Container Apps signs in as the managed
/// identity named by <c>AZURE_CLIENT_ID</c>, so no storage key exists anywhere in the deployment.
/// </summary>
public static class BlobServiceClients
{
    public static BlobServiceClient Create(string connection)
    {
        var trimmed = connection.Trim();
        if (Uri.TryCreate(trimmed, UriKind.Absolute, out var endpoint) && endpoint.Scheme == Uri.UriSchemeHttps && string.IsNullOrEmpty(endpoint.Query))
            return new BlobServiceClient(endpoint, new DefaultAzureCredential());
        return new BlobServiceClient(trimmed);
    }
}
