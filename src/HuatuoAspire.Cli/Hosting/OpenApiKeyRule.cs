namespace HuatuoAspire.Cli.Hosting;

/// <summary>
/// <c>huatuo up</c> serving <c>/v1</c> beyond loopback needs a key (<c>--api-key</c> or <c>Inference__ApiKey</c>):
/// otherwise anyone who reaches the port runs the model. <c>--allow-open-api</c>
/// (<c>Inference:AllowOpenApi=true</c>) says the open API is meant, e.g. behind a gateway that authenticates.
/// </summary>
public static class OpenApiKeyRule
{
    public const string AllowKey = "Inference:AllowOpenApi";

    /// <summary>Null when the host may start; else the one line that says why not and what to do.</summary>
    public static string? Refusal(AllInOneOptions options, IConfiguration configuration)
    {
        if (!options.Runs("inference") || !string.IsNullOrEmpty(configuration["Inference:ApiKey"])
            || configuration.GetValue<bool>(AllowKey)) return null;
        var beyond = options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(url => !AdminAccess.IsLoopbackAddress(url)).ToList();
        return beyond.Count == 0 ? null
            : $"huatuo up listens beyond loopback ({string.Join(", ", beyond)}) without a key for /v1: set one with --api-key KEY " +
              "(or Inference__ApiKey), or pass --allow-open-api to serve it to anyone who can connect.";
    }
}
