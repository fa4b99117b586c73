using System.CommandLine;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.LocalServers;

namespace HuatuoAspire.Cli.Commands;

public static class UpCommand
{
    public static Command Create()
    {
        var dataDir = new Option<DirectoryInfo?>("--data-dir")
        {
            Description = "Where the embedded PostgreSQL and Azurite keep their data (default: .data in the checkout).",
        };
        var urls = new Option<string>("--urls")
        {
            Description = "Addresses to listen on. Admin actions need Admin__Password unless every address is loopback.",
            DefaultValueFactory = _ => "http://127.0.0.1:5080",
        };
        var services = new Option<string[]>("--services")
        {
            Description = $"Run only these services ({string.Join(", ", AllInOneOptions.AllServices)}; default: all), e.g. `--services trainer` for a training worker process.",
            AllowMultipleArgumentsPerToken = true,
        };
        services.Validators.Add(result =>
        {
            foreach (var name in (result.GetValueOrDefault<string[]>() ?? []).SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries)))
            {
                if (!AllInOneOptions.AllServices.Contains(name, StringComparer.OrdinalIgnoreCase))
                    result.AddError($"--services: unknown service '{name}' (known: {string.Join(", ", AllInOneOptions.AllServices)}).");
            }
        });
        var apiKey = new Option<string?>("--api-key")
        {
            Description = "The key every /v1 call must send (Authorization: Bearer KEY); required when listening beyond loopback. Inference__ApiKey keeps it out of the process list.",
        };
        var allowOpenApi = new Option<bool>("--allow-open-api")
        {
            Description = "Serve /v1 without a key beyond loopback (e.g. behind a gateway that authenticates).",
        };
        var command = new Command("up", "Run the whole system in this process (PostgreSQL and Azurite started here when no connection strings are configured).")
        {
            dataDir, urls, services, apiKey, allowOpenApi,
        };
        command.SetAction((parse, ct) => AllInOneHost.RunAsync(
            new AllInOneOptions(
                (parse.GetValue(dataDir)?.FullName) ?? DefaultDataDirectory(),
                parse.GetValue(urls)!,
                [
                    .. parse.UnmatchedTokens,
                    .. parse.GetValue(apiKey) is { Length: > 0 } key ? [$"--Inference:ApiKey={key}"] : Array.Empty<string>(),
                    .. parse.GetValue(allowOpenApi) ? [$"--{OpenApiKeyRule.AllowKey}=true"] : Array.Empty<string>(),
                ],
                parse.GetValue(services) is { Length: > 0 } chosen ? chosen.SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToArray() : null),
            ct));
        return command;
    }

    /// <summary><c>.data</c> in the checkout when run from one, else <c>~/.local/share/huatuo</c>.</summary>
    public static string DefaultDataDirectory()
    {
        var root = RepositoryRoot.TryFind();
        return root is not null
            ? Path.Combine(root, ".data")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "huatuo");
    }
}
