using System.CommandLine;
using HuatuoAspire.Inference.Clients;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary><c>huatuo chat</c>: a small interactive client; the thinking part streams dimmed, the answer plain.</summary>
public static class ChatCommand
{
    public static Command Create()
    {
        var url = new Option<string>("--url") { Description = "The service's base URL.", DefaultValueFactory = _ => "http://127.0.0.1:8000" };
        var model = new Option<string?>("--model") { Description = "Model id (default: the first one /v1/models lists)." };
        var apiKey = new Option<string?>("--api-key") { Description = "Sent as 'Authorization: Bearer KEY'." };
        var system = new Option<string?>("--system") { Description = "A system message to start the conversation with." };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Cap on each reply's tokens." };
        var temperature = new Option<double?>("--temperature") { Description = "Sampling temperature (0 = greedy)." };
        var command = new Command("chat", "Chat with an OpenAI-compatible service; the ## Thinking part is shown dimmed. An empty line or /exit ends.")
        {
            url, model, apiKey, system, maxTokens, temperature,
        };
        command.SetAction(async (parse, ct) =>
        {
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            var client = new ChatStreamClient(http, parse.GetValue(url)!, parse.GetValue(apiKey));
            var modelId = parse.GetValue(model) ?? await client.FirstModelAsync(ct);
            AnsiConsole.MarkupLineInterpolated($"[grey]chatting with[/] [bold]{modelId}[/] [grey]at {parse.GetValue(url)}; an empty line ends[/]");
            var history = new List<(string Role, string Content)>();
            if (parse.GetValue(system) is { } sys) history.Add(("system", sys));
            while (!ct.IsCancellationRequested)
            {
                AnsiConsole.Markup("[bold green]you>[/] ");
                var line = Console.ReadLine();
                if (string.IsNullOrWhiteSpace(line) || line.Trim() == "/exit") break;
                history.Add(("user", line));
                var answer = new System.Text.StringBuilder();
                var thinking = false;
                await foreach (var piece in client.StreamAsync(modelId, history, parse.GetValue(maxTokens), parse.GetValue(temperature), ct))
                {
                    if (!string.IsNullOrEmpty(piece.Reasoning))
                    {
                        if (!thinking) AnsiConsole.Markup("[dim italic]thinking: [/]");
                        thinking = true;
                        AnsiConsole.Markup($"[dim]{Markup.Escape(piece.Reasoning)}[/]");
                    }
                    if (!string.IsNullOrEmpty(piece.Content))
                    {
                        if (thinking) AnsiConsole.WriteLine();
                        if (thinking || answer.Length == 0) AnsiConsole.Markup("[bold blue]model>[/] ");
                        thinking = false;
                        answer.Append(piece.Content);
                        AnsiConsole.Write(piece.Content);
                    }
                    if (piece.Usage is { } usage)
                        AnsiConsole.MarkupLineInterpolated($"\n[grey]({usage.PromptTokens} prompt + {usage.CompletionTokens} completion tokens)[/]");
                }
                history.Add(("assistant", answer.ToString()));
            }
            return 0;
        });
        return command;
    }
}
