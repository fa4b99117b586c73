using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using HuatuoAspire.Data.Jobs;
using Npgsql;

namespace HuatuoAspire.Data;

/// <summary>
/// Least privilege for the services: the schema's owner applies migrations and installs Hangfire's tables; the
/// services log in as a role that may only read and write rows (SELECT, INSERT, UPDATE, DELETE on the tables of the
/// application's schema and Hangfire's, and use their sequences). It can create, alter or drop nothing, so a
/// compromised service cannot change the schema, read other databases or become superuser.
/// </summary>
public static partial class DatabaseRoles
{
    /// <summary>The services' role when none is configured (<c>Database:ServiceRole</c>).</summary>
    public const string DefaultServiceRole = "huatuo_service";

    private static readonly string[] Schemas = ["public", HuatuoJobStorage.Schema];

    /// <summary>
    /// Creates the services' login role when it is missing, sets its password and grants it row access on every table
    /// and sequence of the schemas, now and (default privileges) for the tables later migrations create. Run as the
    /// schema's owner after the migrations; idempotent.
    /// </summary>
    public static async Task EnsureServiceRoleAsync(string ownerConnectionString, string role, string password, CancellationToken ct)
    {
        if (!RoleName().IsMatch(role)) throw new ArgumentException($"'{role}' is not a plain PostgreSQL role name (a-z, 0-9, _).", nameof(role));
        await using var connection = new NpgsqlConnection(ownerConnectionString);
        await connection.OpenAsync(ct);
        var database = connection.Database;
        var literal = "'" + password.Replace("'", "''", StringComparison.Ordinal) + "'";
        var sql = new StringBuilder($"""
            DO $$ BEGIN
              CREATE ROLE "{role}" LOGIN;
            EXCEPTION WHEN duplicate_object THEN NULL; -- made earlier, or by another database's migration at this moment
            END $$;
            ALTER ROLE "{role}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD {literal};
            -- PostgreSQL before 15 let every role create tables in public.
            REVOKE CREATE ON SCHEMA public FROM PUBLIC;
            GRANT CONNECT ON DATABASE "{database.Replace("\"", "\"\"", StringComparison.Ordinal)}" TO "{role}";
            """);
        foreach (var schema in Schemas)
        {
            sql.AppendLine($"""
                GRANT USAGE ON SCHEMA "{schema}" TO "{role}";
                GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}";
                GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}";
                ALTER DEFAULT PRIVILEGES IN SCHEMA "{schema}" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}";
                ALTER DEFAULT PRIVILEGES IN SCHEMA "{schema}" GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "{role}";
                """);
        }
        for (var attempt = 1; ; attempt++)
        {
            await using var command = new NpgsqlCommand(sql.ToString(), connection);
            try
            {
                await command.ExecuteNonQueryAsync(ct);
                return;
            }
            // Two processes granting on one cluster at once: PostgreSQL answers "tuple concurrently updated"; once more.
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InternalError && attempt < 3)
            {
            }
        }
    }

    /// <summary>
    /// After the migrations, as the owner: makes sure the services' role exists with its grants and returns the
    /// connection string the services should use. Without a configured password the role's is derived from the owner's
    /// (a local cluster); an owner that may not create roles, or has no password, keeps the connection as it is.
    /// </summary>
    public static async Task<string> PrepareServiceConnectionAsync(string ownerConnectionString, string role, string? password, CancellationToken ct)
    {
        var ownerPassword = new NpgsqlConnectionStringBuilder(ownerConnectionString).Password;
        password = string.IsNullOrEmpty(password) ? string.IsNullOrEmpty(ownerPassword) ? null : DerivePassword(ownerPassword, role) : password;
        if (password is null || !await CanCreateRolesAsync(ownerConnectionString, ct)) return ownerConnectionString;
        await EnsureServiceRoleAsync(ownerConnectionString, role, password, ct);
        return ConnectionStringFor(ownerConnectionString, role, password);
    }

    /// <summary>
    /// The services' password on a cluster this process manages: derived from the owner's, so every process on the
    /// same cluster computes the same one and none needs to store it.
    /// </summary>
    public static string DerivePassword(string ownerPassword, string role) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(ownerPassword), Encoding.UTF8.GetBytes("huatuo-service-role\n" + role)));

    /// <summary><paramref name="ownerConnectionString"/> with the services' role and password instead of the owner's.</summary>
    public static string ConnectionStringFor(string ownerConnectionString, string role, string password) =>
        new NpgsqlConnectionStringBuilder(ownerConnectionString) { Username = role, Password = password }.ConnectionString;

    /// <summary>Whether the connection's user may create roles (a local cluster's superuser, Azure's admin user).</summary>
    public static async Task<bool> CanCreateRolesAsync(string connectionString, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user", connection);
        return await command.ExecuteScalarAsync(ct) is true;
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex RoleName();
}
