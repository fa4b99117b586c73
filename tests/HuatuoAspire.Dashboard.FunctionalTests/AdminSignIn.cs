namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>Signing in through the dashboard's /login form, as a browser does: its antiforgery token, then the password.</summary>
public static class AdminSignIn
{
    public static async Task<HttpResponseMessage> PostAsync(HttpClient browser, string password)
    {
        var token = DashboardHtml.AntiforgeryToken(await browser.GetStringAsync("/login"));
        return await browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "admin-login", ["__RequestVerificationToken"] = token, ["Input.Password"] = password,
        }));
    }
}
