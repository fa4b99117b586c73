using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Service defaults shared by every HuatuoAspire service: the same shape as Aspire's ServiceDefaults project
/// (health checks, OpenTelemetry, service discovery, standard HTTP resilience), without Aspire packages.
/// </summary>
public static class Extensions
{
    public const string HealthEndpointPath = "/health";
    public const string AlivenessEndpointPath = "/alive";

    /// <summary>Names of every ActivitySource / Meter the project emits; the exporters subscribe to these.</summary>
    public static readonly string[] TelemetrySources =
    [
        "HuatuoAspire.Data",
        "HuatuoAspire.Jobs",
        "HuatuoAspire.Workers",
        "HuatuoAspire.Reasoning",
        "HuatuoAspire.Training",
        "HuatuoAspire.Inference",
        "HuatuoAspire.Evaluation",
        "Microsoft.SemanticKernel*",
        "Hangfire",
    ];

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.AddForwardedHeaders();
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.AddProblemResponses();
        builder.AddSecurityHeaders();

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });
        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(TelemetrySources))
            .WithTracing(tracing => tracing
                .AddSource(TelemetrySources)
                .AddAspNetCoreInstrumentation(o =>
                    // Health probes are polled every few seconds by orchestrators; tracing them is noise.
                    o.Filter = ctx => !ctx.Request.Path.StartsWithSegments(HealthEndpointPath)
                                      && !ctx.Request.Path.StartsWithSegments(AlivenessEndpointPath))
                .AddHttpClientInstrumentation());

        // Aspire (and any OTLP collector) sets this variable; without it nothing is exported.
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }
        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary>
    /// Maps <c>/health</c> (every check must pass) and <c>/alive</c> (only the liveness checks).
    /// Unlike the Aspire template these are mapped in every environment: the all-in-one host and the container
    /// probes in Azure Container Apps both rely on them. They expose no detail beyond the status word.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(HealthEndpointPath);
        // One process may host several services (the all-in-one host): each also has its own /health/{service},
        // made of the checks tagged with its name.
        var registrations = app.Services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations;
        foreach (var service in ServiceNames.All.Where(n => registrations.Any(r => r.Tags.Contains(n))))
        {
            app.MapHealthChecks($"{HealthEndpointPath}/{service}", new HealthCheckOptions { Predicate = r => r.Tags.Contains(service) });
        }
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        return app;
    }
}
