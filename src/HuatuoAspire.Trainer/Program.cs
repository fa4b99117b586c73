namespace HuatuoAspire.Trainer;

public static class Program
{
    public static void Main(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.AddTrainer();

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapTrainer();
        app.Run();
    }
}
