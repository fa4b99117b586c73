using System.Text.Json.Nodes;

namespace HuatuoAspire.ScriptedLlm;

/// <summary>One chat message as the client sent it; array content parts are joined into <see cref="Content"/>.</summary>
public sealed record RecordedMessage(string Role, string Content);

/// <summary>A chat-completion request exactly as the scripted server received it.</summary>
public sealed record RecordedRequest
{
    /// <summary>1-based arrival order across the server's lifetime.</summary>
    public required int Sequence { get; init; }

    public required string Path { get; init; }

    /// <summary>Request headers, names lower-cased (multiple values joined with ", ").</summary>
    public required IReadOnlyDictionary<string, string> Headers { get; init; }

    /// <summary>The raw request body.</summary>
    public required string Body { get; init; }

    /// <summary>The parsed body (null when the body was not a JSON object).</summary>
    public JsonObject? Json { get; init; }

    public string? Model { get; init; }

    public IReadOnlyList<RecordedMessage> Messages { get; init; } = [];

    public double? Temperature { get; init; }

    public double? TopP { get; init; }

    /// <summary><c>max_tokens</c>, or <c>max_completion_tokens</c> when that is what the client sent.</summary>
    public int? MaxTokens { get; init; }

    public long? Seed { get; init; }

    /// <summary><c>stop</c>, a string or a list, as a list.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    public bool Stream { get; init; }

    /// <summary><c>stream_options.include_usage</c>.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary><c>response_format.type</c>: "text", "json_object" or "json_schema".</summary>
    public string? ResponseFormatType { get; init; }

    /// <summary>The whole <c>response_format.json_schema</c> object (name, schema, strict) when present.</summary>
    public JsonObject? JsonSchema { get; init; }

    public string? Authorization => Headers.TryGetValue("authorization", out var value) ? value : null;

    /// <summary>Content of the last user message ("" when there is none): what most scripts branch on.</summary>
    public string LastUserMessage => Messages.LastOrDefault(m => m.Role == "user")?.Content ?? "";

    public string? SystemMessage => Messages.FirstOrDefault(m => m.Role is "system" or "developer")?.Content;

    internal static RecordedRequest FromBody(int sequence, string path, IReadOnlyDictionary<string, string> headers, string body)
    {
        JsonObject? json;
        try
        {
            json = JsonNode.Parse(body) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            json = null;
        }

        if (json is null)
        {
            return new RecordedRequest { Sequence = sequence, Path = path, Headers = headers, Body = body };
        }

        var responseFormat = json["response_format"] as JsonObject;
        return new RecordedRequest
        {
            Sequence = sequence,
            Path = path,
            Headers = headers,
            Body = body,
            Json = json,
            Model = StringOf(json["model"]),
            Messages = MessagesOf(json["messages"]),
            Temperature = DoubleOf(json["temperature"]),
            TopP = DoubleOf(json["top_p"]),
            MaxTokens = IntOf(json["max_tokens"]) ?? IntOf(json["max_completion_tokens"]),
            Seed = LongOf(json["seed"]),
            Stop = StopOf(json["stop"]),
            Stream = json["stream"] is JsonValue s && s.TryGetValue<bool>(out var stream) && stream,
            IncludeUsage = json["stream_options"]?["include_usage"] is JsonValue u && u.TryGetValue<bool>(out var include) && include,
            ResponseFormatType = StringOf(responseFormat?["type"]),
            JsonSchema = responseFormat?["json_schema"] as JsonObject,
        };
    }

    private static IReadOnlyList<RecordedMessage> MessagesOf(JsonNode? node)
    {
        if (node is not JsonArray array)
        {
            return [];
        }

        var messages = new List<RecordedMessage>(array.Count);
        foreach (var item in array)
        {
            if (item is not JsonObject message)
            {
                continue;
            }

            var content = message["content"] switch
            {
                JsonValue value when value.TryGetValue<string>(out var text) => text,
                // Content parts: [{"type":"text","text":"..."}, ...]; only the text parts matter to a script.
                JsonArray parts => string.Concat(parts.Select(p => StringOf(p?["text"]) ?? "")),
                _ => "",
            };
            messages.Add(new RecordedMessage(StringOf(message["role"]) ?? "", content));
        }

        return messages;
    }

    private static IReadOnlyList<string> StopOf(JsonNode? node) => node switch
    {
        JsonValue value when value.TryGetValue<string>(out var single) => [single],
        JsonArray array => array.Select(StringOf).OfType<string>().ToList(),
        _ => [],
    };

    private static string? StringOf(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private static double? DoubleOf(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<double>(out var number) ? number : null;

    private static long? LongOf(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<long>(out var number) ? number : null;

    private static int? IntOf(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<int>(out var number) ? number : null;
}
