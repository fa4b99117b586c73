namespace HuatuoAspire.AppHost;

/// <summary>How the AppHost runs each HuatuoAspire service, and the settings it reads for them.</summary>
public static class HuatuoServiceExtensions
{
    /// <summary>The local data folder (PostgreSQL, Azurite, the built-in model, training work folders):
    /// <c>DataDirectory</c> in the AppHost's configuration, else <c>.data/apphost</c> in the checkout.</summary>
    public static string HuatuoDataDirectory(this IDistributedApplicationBuilder builder)
    {
        var configured = builder.Configuration["DataDirectory"];
        var folder = string.IsNullOrWhiteSpace(configured)
            ? Path.Combine(builder.AppHostDirectory, "..", ".data", "apphost")
            : configured;
        folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <summary>The HuatuoAspire dashboard's port: 5080, as with `huatuo up` (<c>DashboardPort</c> to change it).</summary>
    /// 0 lets Aspire choose a free port (the tests do).
    public static int? DashboardPort(this IDistributedApplicationBuilder builder) =>
        int.TryParse(builder.Configuration["DashboardPort"], out var port) ? port == 0 ? null : port : 5080;

    /// <summary>An HTTP endpoint (a fixed port when given) and the service's own /health driving WaitFor.</summary>
    public static IResourceBuilder<ProjectResource> WithHuatuoService(this IResourceBuilder<ProjectResource> service, int? port = null) =>
        service
            .WithHttpEndpoint(port: port, name: "http")
            .WithHttpHealthCheck("/health");

    /// <summary>The model the inference service serves (<c>Parameters:inference-model</c>: a Hugging Face model
    /// folder); null when not set, and the service makes and serves its built-in small model. An empty Aspire
    /// parameter would hold the service back until someone typed a value in the dashboard, so none is added then.</summary>
    public static IResourceBuilder<ParameterResource>? AddServedModelParameter(this IDistributedApplicationBuilder builder) =>
        builder.Configuration["Parameters:inference-model"] is { Length: > 0 } folder
            ? builder.AddParameter("inference-model", folder).WithDescription("The Hugging Face model folder the inference service serves.")
            : null;

    public static IResourceBuilder<ProjectResource> WithServedModel(this IResourceBuilder<ProjectResource> inference,
        IResourceBuilder<ParameterResource>? model) =>
        model is null ? inference : inference.WithEnvironment("Inference__ModelPath", model);
}
