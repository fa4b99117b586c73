using System.CommandLine;
using HuatuoAspire.Reasoning.Llm;
using Microsoft.Extensions.Configuration;

namespace HuatuoAspire.Cli.Arguments;

/// <summary>
/// --llm/--model/--api-key as the reference scripts take them; without --llm the configured endpoint (Llm:Endpoints:…,
/// or the inference service Aspire announces in services__inference__http__0) is used.
/// </summary>
public sealed class LlmArguments
{
    private readonly string _prefix;

    public LlmArguments(string prefix = "", string role = "LLM")
    {
        _prefix = prefix;
        Url = new Option<string?>($"--{prefix}llm") { Description = $"{role}: OpenAI-compatible base URL (e.g. http://127.0.0.1:8000/v1; a …/chat/completions URL is accepted too)." };
        Model = new Option<string?>($"--{prefix}model") { Description = $"{role}: model id sent with each request." };
        ApiKey = new Option<string?>($"--{prefix}api-key") { Description = $"{role}: API key (bearer token)." };
        Kind = new Option<string?>($"--{prefix}llm-kind") { Description = $"{role}: openai-compatible (default), openai or azure-openai." };
    }

    public Option<string?> Url { get; }
    public Option<string?> Model { get; }
    public Option<string?> ApiKey { get; }
    public Option<string?> Kind { get; }

    public void AddTo(Command command)
    {
        command.Options.Add(Url);
        command.Options.Add(Model);
        command.Options.Add(ApiKey);
        command.Options.Add(Kind);
    }

    public bool IsGiven(ParseResult parse) => parse.GetValue(Url) is not null;

    public LlmEndpointOptions Resolve(ParseResult parse, string name, int concurrency)
    {
        var url = parse.GetValue(Url);
        if (url is null)
        {
            // The services' own registry, read from the environment as they read it.
            using var registry = LlmConfiguration.CreateRegistry(new ConfigurationBuilder().AddEnvironmentVariables().Build());
            if (!registry.Names.Contains(registry.DefaultName, StringComparer.OrdinalIgnoreCase))
                throw new LlmConfigurationException($"--{_prefix}llm is required (or set Llm__Endpoints__inference__BaseUrl / services__inference__http__0).");
            var fallback = registry.Get().Options;
            return fallback with
            {
                Name = name,
                Model = parse.GetValue(Model) ?? fallback.Model,
                ApiKey = parse.GetValue(ApiKey) ?? fallback.ApiKey,
                MaxConcurrency = Math.Max(fallback.MaxConcurrency, concurrency),
            };
        }
        url = url.Trim();
        if (url.EndsWith("/chat/completions", StringComparison.OrdinalIgnoreCase)) url = url[..^"/chat/completions".Length];
        if (!Uri.TryCreate(url, UriKind.Absolute, out var baseUrl))
            throw new LlmConfigurationException($"--{_prefix}llm must be an absolute URL, got '{url}'.");
        var options = new LlmEndpointOptions
        {
            Name = name,
            BaseUrl = baseUrl,
            Model = parse.GetValue(Model) ?? "default",
            ApiKey = parse.GetValue(ApiKey),
            Kind = LlmConfiguration.ParseKind(parse.GetValue(Kind), $"--{_prefix}llm-kind"),
            MaxConcurrency = concurrency,
        };
        options.Validate();
        return options;
    }
}
