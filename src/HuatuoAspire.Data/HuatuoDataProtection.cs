using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HuatuoAspire.Data;

/// <summary>
/// The key ring behind sign-in cookies and antiforgery tokens, in the database (table DataProtectionKeys), so every
/// dashboard replica reads and writes the same keys and a cookie issued by one is accepted by the other. Each key is
/// encrypted at rest with a certificate: <c>DataProtection:Certificate</c> (a PFX, base64: on Azure the Key Vault
/// certificate's secret) or <c>DataProtection:CertificatePath</c> (locally a self-signed one made on first use in the
/// data folder, readable by its owner only). A database dump alone then opens no cookie.
/// </summary>
public static class HuatuoDataProtection
{
    public const string ApplicationName = "HuatuoAspire";

    public static IHostApplicationBuilder AddHuatuoDataProtection(this IHostApplicationBuilder builder)
    {
        builder.AddHuatuoData();
        var protection = builder.Services.AddDataProtection()
            .SetApplicationName(ApplicationName)
            .PersistKeysToDbContext<HuatuoDbContext>();
        if (LoadCertificate(builder.Configuration) is { } certificate)
        {
            // Unprotect with the certificate itself: on Linux the decryptor would otherwise look in the user's store.
            protection.ProtectKeysWithCertificate(certificate).UnprotectKeysWithAnyCertificate(certificate);
        }
        return builder;
    }

    /// <summary>The configured certificate, or (a path that holds none yet) a new self-signed one saved there.</summary>
    public static X509Certificate2? LoadCertificate(IConfiguration configuration)
    {
        var password = configuration["DataProtection:CertificatePassword"];
        if (configuration["DataProtection:Certificate"] is { Length: > 0 } encoded)
            return X509CertificateLoader.LoadPkcs12(Convert.FromBase64String(encoded), password, X509KeyStorageFlags.EphemeralKeySet);
        if (configuration["DataProtection:CertificatePath"] is not { Length: > 0 } path) return null;
        if (!File.Exists(path)) CreateSelfSigned(path, password);
        return X509CertificateLoader.LoadPkcs12FromFile(path, password, X509KeyStorageFlags.EphemeralKeySet);
    }

    private static void CreateSelfSigned(string path, string? password)
    {
        using var rsa = RSA.Create(3072);
        var request = new CertificateRequest("CN=HuatuoAspire data protection", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(100));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        // Written under a temporary name and moved: two processes starting at once never read half a file.
        var staging = $"{path}.{Guid.NewGuid():N}.tmp";
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new FileStream(staging, create))
        {
            file.Write(certificate.Export(X509ContentType.Pkcs12, password));
        }
        try
        {
            File.Move(staging, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(staging); // another process made it first: use theirs
        }
    }
}
