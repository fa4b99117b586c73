namespace HuatuoAspire.Workers;

public static class Program
{
    public static void Main(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.AddWorkers();

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapWorkers();
        app.Run();
    }
}
