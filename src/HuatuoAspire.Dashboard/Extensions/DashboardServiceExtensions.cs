using Hangfire;
using Hangfire.Dashboard;
using HuatuoAspire.Dashboard.Components;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Jobs;
using Radzen;

namespace HuatuoAspire.Dashboard;

/// <summary>
/// The dashboard as two composable halves: its own Program and the all-in-one host (<c>huatuo up</c>) both call
/// these. Pages are rendered on the server (static SSR; the live parts interactively over the circuit); Hangfire's dashboard is mounted at <c>/hangfire</c> behind
/// the admin policy.
/// </summary>
public static class DashboardServiceExtensions
{
    public static IHostApplicationBuilder AddDashboard(this IHostApplicationBuilder builder)
    {
        builder.AddAdminAccess();
        builder.AddHuatuoData();
        // Cookies and antiforgery tokens from one replica are read by the other: the key ring is in the database.
        builder.AddHuatuoDataProtection();
        builder.AddHuatuoJobStorage();
        builder.Services.AddHealthChecks().AddDbContextCheck<HuatuoDbContext>("dashboard-database", tags: [ServiceNames.Dashboard]);
        // Static SSR for the pages; interactive server rendering for the live parts (training curves, chat).
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddRadzenComponents();
        // Radzen's styles and script are static web assets of its package: served from the build output's manifest
        // in any environment (a published app has them in wwwroot instead, where the manifest is absent).
        if (builder is WebApplicationBuilder web) web.WebHost.UseStaticWebAssets();
        builder.Services.AddCascadingAuthenticationState();
        builder.Services.AddSingleton<Services.ServiceApis>();
        builder.Services.AddServiceApiClients();
        builder.Services.AddSingleton<Services.TrainingMetricsReader>();
        builder.Services.AddSingleton<Services.ServedModelClient>();
        builder.Services.AddSingleton<Services.UploadLimit>();
        return builder;
    }

    /// <summary>The HTTP clients of the admin calls and the chat, by service name through service discovery.</summary>
    public static IServiceCollection AddServiceApiClients(this IServiceCollection services)
    {
        // Admin actions are POSTs that must not be repeated, and a model switch or an upload may take minutes: no
        // retries, no attempt timeout, only service discovery from the defaults. (Removing the defaults' handler is
        // marked experimental; it is the documented way to opt one client out of them.)
#pragma warning disable EXTEXP0001
        services.AddHttpClient(Services.ServiceApis.ClientName, http => http.Timeout = TimeSpan.FromMinutes(10)).RemoveAllResilienceHandlers();
        services.AddHttpClient(Services.ServedModelClient.ClientName, http => http.Timeout = Timeout.InfiniteTimeSpan).RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        return services;
    }

    public static WebApplication MapDashboard(this WebApplication app)
    {
        Services.UploadLimit.UseUploadLimit(app, "/data");
        app.UseStaticFiles();
        app.UseAntiforgery();
        // The service defaults send one Content-Security-Policy (frame-ancestors 'none'); Blazor's own second one
        // ("frame-ancestors 'self'") would only loosen it, so it is off.
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode(o => o.ContentSecurityFrameAncestorsPolicy = null);
        app.MapAdminSignOut();
        app.MapDatasetExport();
        app.MapHangfireDashboard("/hangfire", new DashboardOptions
        {
            DashboardTitle = "HuatuoAspire jobs",
            Authorization = [new AdminDashboardAuthorizationFilter()],
            AppPath = "/",
        }).RequireAuthorization(AdminAccess.PolicyName);
        return app;
    }

    /// <summary>Hangfire asks its own filters too; they apply the same admin rule.</summary>
    private sealed class AdminDashboardAuthorizationFilter : IDashboardAuthorizationFilter
    {
        public bool Authorize(DashboardContext context)
        {
            var http = context.GetHttpContext();
            return http.RequestServices.GetRequiredService<AdminAccess>().IsAdmin(http);
        }
    }
}
