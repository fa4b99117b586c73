using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;

namespace HuatuoAspire.Data.Text;

/// <summary>
/// The one boundary where text reaches the database through EF Core (<see cref="HuatuoDbContext"/>'s SaveChanges):
/// every string property of every added or modified entity (owned JSON documents included), and the string values
/// of dictionary properties, are made storable (<see cref="StorableText"/>) before they are written.
/// </summary>
public static class TrackedTextCleaner
{
    public static void Clean(ChangeTracker tracker)
    {
        foreach (var entry in tracker.Entries())
        {
            if (entry.State is not (EntityState.Added or EntityState.Modified)) continue;
            foreach (var property in entry.Properties) Clean(property);
        }
    }

    private static void Clean(PropertyEntry property)
    {
        switch (property.CurrentValue)
        {
            case string text:
                var json = property.Metadata.GetColumnType() is "jsonb" or "json";
                var clean = json ? StorableText.CleanJson(text) : StorableText.Clean(text);
                if (!ReferenceEquals(clean, text)) property.CurrentValue = clean;
                break;
            case Dictionary<string, string> map when map.Any(kv => !StorableText.IsStorable(kv.Key) || !StorableText.IsStorable(kv.Value)):
                property.CurrentValue = map.ToDictionary(kv => StorableText.Clean(kv.Key), kv => StorableText.Clean(kv.Value));
                break;
        }
    }
}
