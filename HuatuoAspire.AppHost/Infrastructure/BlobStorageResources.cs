using HuatuoAspire.LocalServers;

namespace HuatuoAspire.AppHost.Infrastructure;

/// <summary>Azurite's blob service run as an executable (the npm package's <c>azurite-blob</c>).</summary>
public sealed class ExecutableAzuriteResource(string name, string command, string workingDirectory, string dataDirectory)
    : ExecutableResource(name, command, workingDirectory)
{
    public string DataDirectory { get; } = dataDirectory;
}

/// <summary>
/// The blob service of an Azurite resource (executable or container), published as the connection string
/// Azure.Storage.Blobs takes, so services read <c>ConnectionStrings__blobs</c> whichever runs it.
/// </summary>
public sealed class BlobStorageResource(string name, IResourceWithEndpoints parent)
    : Resource(name), IResourceWithParent<IResourceWithEndpoints>, IResourceWithConnectionString
{
    internal const string EndpointName = "blob";

    public IResourceWithEndpoints Parent { get; } = parent;
    public EndpointReference BlobEndpoint { get; } = new(parent, EndpointName);

    // Azurite's fixed development account: public, and only valid against the emulator.
    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"DefaultEndpointsProtocol=http;AccountName={AzuriteServer.AccountName};AccountKey={AzuriteServer.AccountKey};BlobEndpoint=http://{BlobEndpoint.Property(EndpointProperty.IPV4Host)}:{BlobEndpoint.Property(EndpointProperty.Port)}/{AzuriteServer.AccountName};");
}
