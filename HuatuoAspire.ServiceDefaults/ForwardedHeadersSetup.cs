using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Behind a TLS proxy (Azure Container Apps' ingress) the app sees plain HTTP from the proxy's address. With
/// <c>ForwardedHeaders:Enabled</c> (default: on inside Azure Container Apps, which sets <c>CONTAINER_APP_NAME</c>) the
/// client address and scheme are taken from the last <c>X-Forwarded-For</c>/<c>X-Forwarded-Proto</c> entry, the one the
/// proxy appended: the sign-in throttle then counts real clients, cookies are Secure and redirects are https.
/// <c>ForwardedHeaders:KnownNetworks</c> (CIDRs) limits which senders are believed; empty: any, which is right only
/// when the app is reachable through the proxy alone.
/// </summary>
public static class ForwardedHeadersSetup
{
    public const string SectionName = "ForwardedHeaders";

    public static TBuilder AddForwardedHeaders<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var configuration = builder.Configuration;
        var enabled = configuration.GetValue<bool?>($"{SectionName}:Enabled")
                      ?? !string.IsNullOrEmpty(configuration["CONTAINER_APP_NAME"]);
        // ASPNETCORE_FORWARDEDHEADERS_ENABLED makes the web host add the same middleware; twice would believe two entries.
        if (!enabled || configuration.GetValue<bool>("FORWARDEDHEADERS_ENABLED")) return builder;
        if (builder.Services.Any(s => s.ImplementationType == typeof(ForwardedHeadersStartupFilter))) return builder;

        builder.Services.Configure<ForwardedHeadersOptions>(o =>
        {
            // Not X-Forwarded-Host: ACA's ingress passes the client's Host through, and a forged one would steer redirects.
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            o.ForwardLimit = 1;
            var networks = configuration.GetSection($"{SectionName}:KnownNetworks").Get<string[]>() ?? [];
            o.KnownIPNetworks.Clear();
            o.KnownProxies.Clear();
            foreach (var network in networks) o.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
            if (networks.Length > 0) o.KnownProxies.Add(IPAddress.Loopback);
        });
        builder.Services.AddTransient<IStartupFilter, ForwardedHeadersStartupFilter>();
        return builder;
    }

    /// <summary>First in the pipeline, before anything reads the scheme or the client address.</summary>
    private sealed class ForwardedHeadersStartupFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.UseForwardedHeaders();
            next(app);
        };
    }
}
