using System.Net;
using System.Text.RegularExpressions;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.Data;
using HuatuoAspire.LocalServers;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>Issue 12 item 5: two dashboard replicas share one key ring, kept in the database and encrypted there.</summary>
[Collection(InfrastructureCollection.Name)]
public sealed partial class DataProtectionKeyRingTests(InfrastructureFixture fixture)
{
    [Fact]
    public async Task ACookieSignedInOnOneDashboardReplicaOpensTheOtherAndTheKeyRingIsEncryptedInTheDatabase()
    {
        // Two replicas: separate data folders (no shared disk), one database, the same certificate (Key Vault on Azure).
        var root = Path.Combine(fixture.DataDirectory, $"replicas-{Guid.NewGuid():N}");
        var certificate = Path.Combine(root, "data-protection.pfx");
        string[] args = ["--Admin:Password=replica-pw", $"--DataProtection:CertificatePath={certificate}"];
        await using var first = await StartAsync(Path.Combine(root, "first"), args);
        await using var second = await StartAsync(Path.Combine(root, "second"), args);

        var cookies = new CookieContainer();
        using (var browser = Browser(first, cookies))
        {
            var token = AntiforgeryField().Match(await browser.GetStringAsync("/login")).Groups[1].Value;
            await browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["_handler"] = "admin-login", ["__RequestVerificationToken"] = token, ["Input.Password"] = "replica-pw",
            }));
            Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/hangfire")).StatusCode);
        }
        // The cookie container is keyed by host: both replicas are 127.0.0.1, as behind one ingress.
        using (var browser = Browser(second, cookies))
            Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/hangfire")).StatusCode);

        // At rest every key is encrypted with the certificate: no key material in clear in the database.
        await using var db = await first.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var keys = await db.DataProtectionKeys.Select(k => k.Xml!).ToListAsync();
        Assert.NotEmpty(keys);
        Assert.All(keys, xml =>
        {
            Assert.Contains("<encryptedSecret", xml);
            Assert.DoesNotContain("<value>", xml);
        });
        Assert.True(File.Exists(certificate));
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(certificate));
    }

    private static HttpClient Browser(WebApplication app, CookieContainer cookies) =>
        new(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = new Uri(app.Urls.First()) };

    private async Task<WebApplication> StartAsync(string dataDirectory, string[] args)
    {
        var app = await AllInOneHost.CreateAsync(new AllInOneOptions(dataDirectory, $"http://127.0.0.1:{FreePort.Pick()}", args, ["dashboard"]),
            fixture.Infrastructure, CancellationToken.None);
        await app.StartAsync();
        return app;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
