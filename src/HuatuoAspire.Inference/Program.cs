namespace HuatuoAspire.Inference;

public static class Program
{
    public static void Main(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.AddInference();

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapInference();
        app.Run();
    }
}
