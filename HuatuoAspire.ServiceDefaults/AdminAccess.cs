using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Who may use admin actions (starting training jobs, switching the served checkpoint, Hangfire's dashboard).
/// With <c>Admin:Password</c> configured: whoever signs in with it (cookie) or sends it as a bearer token.
/// Without it: nobody, unless every address the app listens on is loopback; then anyone on this machine,
/// and the dashboard says so on every page.
/// </summary>
public sealed class AdminAccess(IServer server, IConfiguration configuration)
{
    public const string PolicyName = "admin";
    public const string CookieScheme = "huatuo-admin-cookie";
    public const string KeyScheme = "huatuo-admin-key";
    public const string Role = "admin";

    public bool PasswordConfigured => !string.IsNullOrEmpty(configuration["Admin:Password"]);

    /// <summary>True when every address the server listens on is a loopback address.</summary>
    public bool IsLoopbackOnly
    {
        get
        {
            var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
            return addresses is { Count: > 0 } && addresses.All(IsLoopbackAddress);
        }
    }

    /// <summary>Admin actions need no sign-in: no password is configured and only this machine can connect.</summary>
    public bool OpenToLocalUsers => !PasswordConfigured && IsLoopbackOnly;

    public bool VerifyPassword(string? candidate)
    {
        var expected = configuration["Admin:Password"];
        if (string.IsNullOrEmpty(expected) || candidate is null) return false;
        return CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(candidate)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));
    }

    /// <summary>
    /// A stamp of the configured password (not reversible to it) kept in the sign-in cookie: a cookie issued under
    /// another password no longer signs anyone in.
    /// </summary>
    public string PasswordStamp => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("huatuo-admin-stamp\n" + configuration["Admin:Password"])))[..32];

    public bool IsAdmin(HttpContext context) =>
        context.User.IsInRole(Role)
        || (OpenToLocalUsers && context.Connection.RemoteIpAddress is { } ip && IPAddress.IsLoopback(ip));

    /// <summary>
    /// <see cref="IsAdmin"/> on a route open to anyone, where only the default (cookie) scheme has run: a bearer key
    /// is checked too.
    /// </summary>
    public async Task<bool> IsAdminAsync(HttpContext context) =>
        IsAdmin(context) || (await context.AuthenticateAsync(KeyScheme)).Principal?.IsInRole(Role) == true;

    public const string StampClaim = "huatuo:password-stamp";

    public static ClaimsPrincipal CreatePrincipal(string scheme) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "admin"), new Claim(ClaimTypes.Role, Role)], scheme));

    /// <summary>The principal a sign-in cookie carries: the admin, with the stamp of the password it signed in with.</summary>
    public ClaimsPrincipal CreateCookiePrincipal() =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "admin"), new Claim(ClaimTypes.Role, Role), new Claim(StampClaim, PasswordStamp)], CookieScheme));

    public static bool IsLoopbackAddress(string address)
    {
        if (!Uri.TryCreate(address.Replace("://+", "://0.0.0.0").Replace("://*", "://0.0.0.0"), UriKind.Absolute, out var uri))
        {
            return false;
        }
        if (string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }
}

public static class AdminAccessExtensions
{
    /// <summary>Registers admin authentication (cookie + bearer key) and the "admin" policy. Safe to call twice.</summary>
    public static TBuilder AddAdminAccess<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        if (builder.Services.Any(s => s.ServiceType == typeof(AdminAccess))) return builder;

        builder.Services.AddSingleton<AdminAccess>();
        builder.Services.AddSingleton<AdminSignInThrottle>();
        builder.Services.AddAuthentication(AdminAccess.CookieScheme)
            .AddCookie(AdminAccess.CookieScheme, o =>
            {
                o.Cookie.Name = "huatuo-admin";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                // Secure whenever the request is HTTPS (behind a TLS proxy: with forwarded headers honoured).
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.LoginPath = "/login";
                o.AccessDeniedPath = "/login";
                o.ExpireTimeSpan = TimeSpan.FromHours(12);
                o.Events.OnRedirectToLogin = ctx => RedirectOrStatus(ctx, StatusCodes.Status401Unauthorized);
                o.Events.OnRedirectToAccessDenied = ctx => RedirectOrStatus(ctx, StatusCodes.Status403Forbidden);
                o.Events.OnValidatePrincipal = RejectOtherPasswordsCookie;
            })
            .AddScheme<AuthenticationSchemeOptions, AdminKeyAuthenticationHandler>(AdminAccess.KeyScheme, _ => { });
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IAuthorizationHandler, AdminRequirementHandler>());
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AdminAccess.PolicyName, p => p
                .AddAuthenticationSchemes(AdminAccess.CookieScheme, AdminAccess.KeyScheme)
                .AddRequirements(new AdminRequirement()));
        return builder;
    }

    /// <summary>Sign-out (POST): removes the sign-in cookie and returns to the home page.</summary>
    public static IEndpointRouteBuilder MapAdminSignOut(this IEndpointRouteBuilder app)
    {
        // No antiforgery token needed: the cookie is SameSite=Strict, so another site cannot make a browser send it here.
        app.MapPost("/logout", async (HttpContext context) =>
        {
            await context.SignOutAsync(AdminAccess.CookieScheme);
            return Results.Redirect("/");
        }).WithName("SignOut").WithSummary("Signs the admin out (removes the sign-in cookie).").DisableAntiforgery();
        return app;
    }

    // A cookie signed in under another password (or before stamps existed) is dropped: changing Admin:Password signs
    // every browser out.
    private static async Task RejectOtherPasswordsCookie(CookieValidatePrincipalContext context)
    {
        var access = context.HttpContext.RequestServices.GetRequiredService<AdminAccess>();
        var stamp = context.Principal?.FindFirst(AdminAccess.StampClaim)?.Value;
        if (access.PasswordConfigured && stamp is not null
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(stamp), Encoding.UTF8.GetBytes(access.PasswordStamp)))
        {
            return;
        }
        context.RejectPrincipal();
        await context.HttpContext.SignOutAsync(AdminAccess.CookieScheme);
    }

    // Browsers are sent to the sign-in page; API clients get the status code.
    private static Task RedirectOrStatus(RedirectContext<CookieAuthenticationOptions> ctx, int status)
    {
        var wantsHtml = ctx.Request.Headers.Accept.Any(a => a?.Contains("text/html", StringComparison.Ordinal) == true);
        if (wantsHtml && HttpMethods.IsGet(ctx.Request.Method)) ctx.Response.Redirect(ctx.RedirectUri);
        else ctx.Response.StatusCode = status;
        return Task.CompletedTask;
    }
}

public sealed class AdminRequirement : IAuthorizationRequirement;

internal sealed class AdminRequirementHandler(AdminAccess access) : AuthorizationHandler<AdminRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, AdminRequirement requirement)
    {
        // Endpoint routing passes the HttpContext as the resource; the loopback rule needs the caller's address.
        if (context.User.IsInRole(AdminAccess.Role)
            || (context.Resource is HttpContext http && access.IsAdmin(http)))
        {
            context.Succeed(requirement);
        }
        return Task.CompletedTask;
    }
}

/// <summary>
/// API clients authenticate with <c>Authorization: Bearer {Admin:Password}</c>. Wrong keys are throttled per client
/// (<see cref="AdminSignInThrottle"/>): past the limit the challenge answers 429 with Retry-After.
/// </summary>
internal sealed class AdminKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, AdminAccess access, AdminSignInThrottle throttle)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private bool _throttled;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return Task.FromResult(AuthenticateResult.NoResult());
        if (!throttle.Allows(Context))
        {
            _throttled = true;
            return Task.FromResult(AuthenticateResult.Fail("Too many wrong admin keys from this client; retry later."));
        }
        if (access.VerifyPassword(header["Bearer ".Length..].Trim()))
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(AdminAccess.CreatePrincipal(Scheme.Name), Scheme.Name)));
        _throttled = !throttle.CountFailure(Context);
        return Task.FromResult(AuthenticateResult.Fail("The admin key is not valid."));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        await base.HandleChallengeAsync(properties);
        if (_throttled) throttle.Refuse(Context);
    }
}
