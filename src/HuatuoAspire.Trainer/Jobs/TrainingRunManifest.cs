using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Trainer.Jobs;

/// <summary>
/// Which run a work folder or checkpoint belongs to: the database (its cluster's system identifier and name), the run
/// id, when the run was created and the hash of its configuration. Run ids repeat across databases (and a database can
/// be recreated), so a checkpoint is resumed only when its manifest names this very run.
/// </summary>
public sealed record TrainingRunManifest(string Database, long RunId, DateTime CreatedAt, string ConfigSha256)
{
    public const string FileName = "huatuo-run.json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static async Task<TrainingRunManifest> ForRunAsync(HuatuoDbContext db, TrainingRun run, CancellationToken ct) =>
        new(await DatabaseIdentityAsync(db, ct), run.Id, DateTime.SpecifyKind(run.CreatedAt, DateTimeKind.Utc),
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(run.Config))));

    /// <summary>True when <paramref name="folder"/> holds a manifest naming this run.</summary>
    public bool Marks(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) return false;
        try
        {
            return JsonSerializer.Deserialize<TrainingRunManifest>(File.ReadAllText(path), Json) is { } other && SameRun(other);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    public void WriteTo(string folder) => File.WriteAllText(Path.Combine(folder, FileName), JsonSerializer.Serialize(this, Json));

    private bool SameRun(TrainingRunManifest other) =>
        other.Database == Database && other.RunId == RunId && other.ConfigSha256 == ConfigSha256
        && Math.Abs((other.CreatedAt.ToUniversalTime() - CreatedAt).TotalMilliseconds) < 1;

    /// <summary>
    /// The cluster's system identifier (unique per initdb) and the database's name; the name and server address when
    /// the role may not read pg_control_system().
    /// </summary>
    private static async Task<string> DatabaseIdentityAsync(HuatuoDbContext db, CancellationToken ct)
    {
        try
        {
            return await db.Database.SqlQueryRaw<string>("SELECT system_identifier::text || '/' || current_database() AS \"Value\" FROM pg_control_system()")
                .SingleAsync(ct);
        }
        catch (Npgsql.PostgresException)
        {
            return await db.Database.SqlQueryRaw<string>(
                "SELECT current_database() || '@' || coalesce(host(inet_server_addr()), 'local') || ':' || coalesce(inet_server_port(), 0)::text AS \"Value\"")
                .SingleAsync(ct);
        }
    }
}
