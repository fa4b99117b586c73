using System.Net;
using HuatuoAspire.Data;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>Issue 12 item 5: two dashboard replicas share one key ring, kept in the database and encrypted there.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DataProtectionKeyRingTests(DashboardFixture fixture)
{
    [Fact]
    public async Task ACookieSignedInOnOneDashboardReplicaOpensTheOtherAndTheKeyRingIsEncryptedInTheDatabase()
    {
        // Two replicas: separate data folders (no shared disk), one database, the same certificate (Key Vault on Azure).
        var root = fixture.NewFolder("replicas");
        var certificate = Path.Combine(root, "data-protection.pfx");
        string[] args = ["--Admin:Password=replica-pw", $"--DataProtection:CertificatePath={certificate}"];
        await using var first = await fixture.StartDashboardAsync(Path.Combine(root, "first"), args);
        await using var second = await fixture.StartDashboardAsync(Path.Combine(root, "second"), args);

        var cookies = new CookieContainer();
        using (var browser = Browser(first, cookies))
        {
            await AdminSignIn.PostAsync(browser, "replica-pw");
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
}
