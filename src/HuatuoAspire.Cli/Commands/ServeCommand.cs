using System.CommandLine;
using HuatuoAspire.Inference;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary>What a standalone inference service needs.</summary>
public sealed record ServeSettings(string? ModelDir, string Urls, string? ApiKey, string? ModelId, int MaxBatchSize, int MaxQueue,
    int? ContextLength, string? WeightDType = null);

/// <summary><c>huatuo serve</c>: the inference service alone, composed as its own Program composes it.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo?>("--model") { Description = "Hugging Face model folder to serve (default: the built-in tiny model, created once)." };
        var urls = new Option<string>("--urls") { Description = "Addresses to listen on.", DefaultValueFactory = _ => "http://127.0.0.1:8000" };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on /v1 (Inference:ApiKey)." };
        var modelId = new Option<string?>("--model-id") { Description = "The name clients use in 'model' (default: the folder's name)." };
        var batch = new Option<int>("--max-batch-size") { Description = "Sequences decoded together (Inference:MaxBatchSize).", DefaultValueFactory = _ => 16 };
        var queue = new Option<int>("--max-queue") { Description = "Requests that may wait for a slot before 429 (Inference:MaxQueue).", DefaultValueFactory = _ => 64 };
        var context = new Option<int?>("--context-length") { Description = "Cap on prompt + completion tokens (Inference:ContextLength)." };
        var dtype = WeightDTypeOption.Create();
        var command = new Command("serve", "Serve a model over the OpenAI-compatible API (/v1/chat/completions, /v1/models) with continuous batching.")
        {
            model, urls, apiKey, modelId, batch, queue, context, dtype,
        };
        command.SetAction(async (parse, ct) =>
        {
            var settings = new ServeSettings(parse.GetValue(model)?.FullName, parse.GetValue(urls)!, parse.GetValue(apiKey),
                parse.GetValue(modelId), parse.GetValue(batch), parse.GetValue(queue), parse.GetValue(context), parse.GetValue(dtype));
            await using var app = Build(settings, parse.UnmatchedTokens.ToArray());
            await app.StartAsync(ct);
            foreach (var address in Addresses(app)) AnsiConsole.MarkupLineInterpolated($"OpenAI-compatible API at [bold]{address}/v1[/]");
            AnsiConsole.MarkupLine("Press [bold]Ctrl+C[/] to stop.");
            try
            {
                await app.WaitForShutdownAsync(ct);
            }
            catch (OperationCanceledException) { }
            await app.StopAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }

    /// <summary>The service on its own web host (not started).</summary>
    public static WebApplication Build(ServeSettings settings, string[] extraArgs)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = extraArgs,
            ApplicationName = typeof(ServeCommand).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseUrls(settings.Urls);
        // One log line per request drowns the console of a server that streams thousands of requests.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        if (settings.ModelDir is not null) builder.Configuration["Inference:ModelPath"] = settings.ModelDir;
        if (settings.ApiKey is not null) builder.Configuration["Inference:ApiKey"] = settings.ApiKey;
        if (settings.ModelId is not null) builder.Configuration["Inference:ModelId"] = settings.ModelId;
        if (settings.ContextLength is { } c) builder.Configuration["Inference:ContextLength"] = c.ToString();
        if (settings.WeightDType is not null) builder.Configuration["Inference:WeightDType"] = settings.WeightDType;
        builder.Configuration["Inference:MaxBatchSize"] = settings.MaxBatchSize.ToString();
        builder.Configuration["Inference:MaxQueue"] = settings.MaxQueue.ToString();
        builder.Configuration["Inference:DefaultModelDir"] ??= Path.Combine(UpCommand.DefaultDataDirectory(), "models", "default");
        builder.AddServiceDefaults();
        builder.AddInference();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapInference();
        return app;
    }

    public static IEnumerable<string> Addresses(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.Select(a => a.TrimEnd('/')) ?? [];
}
