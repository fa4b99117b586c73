using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace HuatuoAspire.Data;

/// <summary>
/// Lets `dotnet ef migrations add` build the model without a running host or database (generating a migration
/// never connects; the connection string only selects the Npgsql provider).
/// </summary>
public sealed class DesignTimeHuatuoDbContextFactory : IDesignTimeDbContextFactory<HuatuoDbContext>
{
    public HuatuoDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<HuatuoDbContext>()
            .UseNpgsql("Host=localhost;Database=huatuodb", HuatuoDataExtensions.ConfigureNpgsql)
            .Options;
        return new HuatuoDbContext(options);
    }
}
