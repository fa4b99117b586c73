using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

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

    /// <summary>
    /// A fixed local port for a service users open by hand: the dashboard on 5080 (as with `huatuo up`) and the
    /// OpenAI-compatible API on 5081, changed with <c>DashboardPort</c> / <c>InferencePort</c>; 0 lets Aspire choose a
    /// free one (the tests do).
    /// </summary>
    public static int? ServicePort(this IDistributedApplicationBuilder builder, string setting, int fallback)
    {
        var text = builder.Configuration[setting];
        int port;
        if (string.IsNullOrWhiteSpace(text)) port = fallback;
        else if (!int.TryParse(text, out port) || port is < 0 or > 65535)
            throw new AppHostConfigurationException($"{setting} must be a port number (0 for any free port), got '{text}'.");
        if (port == 0) return null;
        // Aspire's proxy would fail to bind a taken port silently, and the service would never become healthy.
        if (builder.ExecutionContext.IsRunMode && !PortIsFree(port))
            throw new AppHostConfigurationException(
                $"Port {port} ({setting}) is taken by another program (a running `huatuo up` or AppHost?): stop it, or start with --{setting}=N.");
        return port;
    }

    private static bool PortIsFree(int port)
    {
        try
        {
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

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

    /// <summary>Prints where to go once the dashboard is ready (the Aspire dashboard's own URL is printed by Aspire).</summary>
    public static IResourceBuilder<ProjectResource> AnnouncesUrlsWhenReady(this IResourceBuilder<ProjectResource> dashboard,
        IResourceBuilder<ProjectResource> inference)
    {
        dashboard.ApplicationBuilder.Eventing.Subscribe<ResourceReadyEvent>(dashboard.Resource, (e, _) =>
        {
            var site = dashboard.GetEndpoint("http").Url.Replace("localhost", "127.0.0.1");
            var api = inference.GetEndpoint("http").Url.Replace("localhost", "127.0.0.1");
            e.Services.GetRequiredService<ILoggerFactory>().CreateLogger("HuatuoAspire").LogInformation(
                "HuatuoAspire is up: dashboard {Site}/ (jobs {Site}/hangfire, health {Site}/health); OpenAI-compatible API {Api}/v1",
                site, site, site, api);
            return Task.CompletedTask;
        });
        return dashboard;
    }
}
