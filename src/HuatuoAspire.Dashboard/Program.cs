namespace HuatuoAspire.Dashboard;

public static class Program
{
    public static void Main(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.AddDashboard();

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapDashboard();
        app.Run();
    }
}
