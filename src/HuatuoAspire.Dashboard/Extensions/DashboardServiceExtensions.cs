using Hangfire;
using Hangfire.Dashboard;
using HuatuoAspire.Dashboard.Components;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Jobs;

namespace HuatuoAspire.Dashboard;

/// <summary>
/// The dashboard as two composable halves: its own Program and the all-in-one host (<c>huatuo up</c>) both call
/// these. Pages are rendered on the server (static SSR); Hangfire's dashboard is mounted at <c>/hangfire</c> behind
/// the admin policy.
/// </summary>
public static class DashboardServiceExtensions
{
    public static IHostApplicationBuilder AddDashboard(this IHostApplicationBuilder builder)
    {
        builder.AddAdminAccess();
        builder.AddHuatuoData();
        builder.AddHuatuoJobStorage();
        builder.Services.AddHealthChecks().AddDbContextCheck<HuatuoDbContext>("dashboard-database", tags: [ServiceNames.Dashboard]);
        builder.Services.AddRazorComponents();
        builder.Services.AddCascadingAuthenticationState();
        builder.Services.AddSingleton<Services.ServiceApis>();
        return builder;
    }

    public static WebApplication MapDashboard(this WebApplication app)
    {
        app.UseAntiforgery();
        app.MapRazorComponents<App>();
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
