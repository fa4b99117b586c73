using HuatuoAspire.Storage;

namespace HuatuoAspire.Data.FunctionalTests;

/// <summary>Issue 14: on Azure the blobs connection is the account's endpoint alone, reached with the managed identity.</summary>
[Collection(InfrastructureCollection.Name)]
public sealed class BlobServiceClientsTests(InfrastructureFixture infra)
{
    [Fact]
    public void AnEndpointWithoutAKeySignsInWithEntraIdAndHoldsNoSharedKey()
    {
        var client = BlobServiceClients.Create("https://huatuost1234.blob.core.windows.net/");
        Assert.Equal(new Uri("https://huatuost1234.blob.core.windows.net/"), client.Uri);
        Assert.Equal("huatuost1234", client.AccountName);
        Assert.False(client.CanGenerateAccountSasUri); // no account key: only a token credential can sign requests
    }

    [Fact]
    public async Task AConnectionStringStillReachesAzuriteWithItsKey()
    {
        var client = BlobServiceClients.Create(infra.Azurite.ConnectionString);
        Assert.True(client.CanGenerateAccountSasUri);
        var container = client.GetBlobContainerClient($"clients-{Guid.NewGuid():N}");
        await container.CreateAsync();
        Assert.True(await container.ExistsAsync());
        await container.DeleteAsync();
    }
}
