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
        builder.Services.AddSingleton<Services.TrainingMetricsReader>();
        builder.Services.AddSingleton<Services.ServedModelClient>();
        return builder;
    }

    public static WebApplication MapDashboard(this WebApplication app)
    {
        app.UseStaticFiles();
        app.UseAntiforgery();
        // The service defaults send one Content-Security-Policy (frame-ancestors 'none'); Blazor's own second one
        // ("frame-ancestors 'self'") would only loosen it, so it is off.
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode(o => o.ContentSecurityFrameAncestorsPolicy = null);
        app.MapAdminSignOut();
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
