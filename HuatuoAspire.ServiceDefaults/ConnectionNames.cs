namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The resource names the AppHost declares. Services read their connections by these names exactly as Aspire
/// injects them: <c>ConnectionStrings__huatuodb</c>, <c>ConnectionStrings__blobs</c>, <c>services__inference__http__0</c>.
/// </summary>
public static class ConnectionNames
{
    public const string Database = "huatuodb";
    public const string Blobs = "blobs";
    public const string BlobContainer = "huatuo";
}

/// <summary>The services of the system, as the AppHost names them.</summary>
public static class ServiceNames
{
    public const string Workers = "workers";
    public const string Trainer = "trainer";
    public const string Inference = "inference";
    public const string Dashboard = "dashboard";

    public static readonly string[] All = [Workers, Trainer, Inference, Dashboard];
}
