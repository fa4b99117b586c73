using System.CommandLine;
using System.Text.Json;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Cli.Commands;

/// <summary><c>huatuo tokenize</c>: the ids a model folder's tokenizer gives, as Hugging Face's tokenizer.encode(text) gives them.</summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var tokenizerOption = new Option<DirectoryInfo>("--tokenizer")
        {
            Description = "Folder with tokenizer.json and tokenizer_config.json (a model folder)",
            Required = true,
        };
        var textOption = new Option<string?>("--text") { Description = "Text to tokenize; prints one JSON array of ids" };
        var jsonlOption = new Option<FileInfo?>("--jsonl")
        {
            Description = "File with one JSON string per line ('-' reads standard input); prints one JSON array per line, in order",
        };
        var noSpecialOption = new Option<bool>("--no-special-tokens")
        {
            Description = "Do not add the post-processor's special tokens (add_special_tokens=False), e.g. Llama-3's <|begin_of_text|>",
        };

        var statsOption = new Option<bool>("--stats")
        {
            Description = "After the ids, print load time and encode throughput (tokens/s, MB/s) to standard error",
        };

        var command = new Command("tokenize", "Print the token ids of text as a JSON array");
        command.Options.Add(tokenizerOption);
        command.Options.Add(textOption);
        command.Options.Add(jsonlOption);
        command.Options.Add(noSpecialOption);
        command.Options.Add(statsOption);
        command.Validators.Add(result =>
        {
            var hasText = result.GetValue(textOption) is not null;
            var hasJsonl = result.GetValue(jsonlOption) is not null;
            if (hasText == hasJsonl) result.AddError("Give exactly one of --text or --jsonl.");
        });
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var dir = parseResult.GetValue(tokenizerOption)!;
            var addSpecial = !parseResult.GetValue(noSpecialOption);
            var stats = parseResult.GetValue(statsOption) ? new EncodeStatistics() : null;
            HfTokenizer tokenizer;
            try
            {
                var load = System.Diagnostics.Stopwatch.StartNew();
                tokenizer = HfTokenizer.FromFolder(dir.FullName);
                if (stats is not null) stats.LoadSeconds = load.Elapsed.TotalSeconds;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"tokenize: cannot load the tokenizer in '{dir.FullName}': {e.Message}");
                return 1;
            }

            int exitCode;
            if (parseResult.GetValue(textOption) is { } text)
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(Encode(tokenizer, text, addSpecial, stats)));
                exitCode = 0;
            }
            else exitCode = await TokenizeLinesAsync(tokenizer, parseResult.GetValue(jsonlOption)!, addSpecial, stats, cancellationToken);
            if (stats is not null) await Console.Error.WriteLineAsync(stats.ToString());
            return exitCode;
        });
        return command;
    }

    private static IReadOnlyList<int> Encode(HfTokenizer tokenizer, string text, bool addSpecial, EncodeStatistics? stats)
    {
        if (stats is null) return tokenizer.Encode(text, addSpecial);
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        var ids = tokenizer.Encode(text, addSpecial);
        stats.EncodeSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
        stats.Texts++;
        stats.Characters += text.Length;
        stats.Utf8Bytes += System.Text.Encoding.UTF8.GetByteCount(text);
        stats.Tokens += ids.Count;
        return ids;
    }

    /// <summary>What --stats reports: encode time only, so that reading, JSON and printing do not count.</summary>
    private sealed class EncodeStatistics
    {
        public double LoadSeconds { get; set; }
        public double EncodeSeconds { get; set; }
        public long Texts { get; set; }
        public long Characters { get; set; }
        public long Utf8Bytes { get; set; }
        public long Tokens { get; set; }

        public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"tokenize: loaded in {LoadSeconds:F2} s; encoded {Texts} texts, {Characters} chars, {Utf8Bytes} UTF-8 bytes into {Tokens} tokens "
            + $"in {EncodeSeconds:F3} s: {Tokens / Math.Max(EncodeSeconds, 1e-9):F0} tokens/s, {Utf8Bytes / 1e6 / Math.Max(EncodeSeconds, 1e-9):F2} MB/s (one thread)");
    }

    private static async Task<int> TokenizeLinesAsync(HfTokenizer tokenizer, FileInfo file, bool addSpecial, EncodeStatistics? stats, CancellationToken cancellationToken)
    {
        var fromStdin = file.Name == "-";
        if (!fromStdin && !file.Exists)
        {
            await Console.Error.WriteLineAsync($"tokenize: no such file '{file.FullName}'.");
            return 1;
        }
        using var reader = fromStdin ? new StreamReader(Console.OpenStandardInput()) : new StreamReader(file.FullName);
        var source = fromStdin ? "stdin" : file.FullName;
        var output = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false };
        await using (output)
        {
            var number = 0;
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                number++;
                string? text;
                try
                {
                    text = JsonSerializer.Deserialize<string>(line);
                }
                catch (JsonException e)
                {
                    await output.FlushAsync(cancellationToken);
                    await Console.Error.WriteLineAsync($"tokenize: {source}:{number}: not a JSON string ({e.Message}); each line must be one, e.g. \"text\".");
                    return 1;
                }
                if (text is null)
                {
                    await output.FlushAsync(cancellationToken);
                    await Console.Error.WriteLineAsync($"tokenize: {source}:{number}: is null; each line must be a JSON string.");
                    return 1;
                }
                await output.WriteLineAsync(JsonSerializer.Serialize(Encode(tokenizer, text, addSpecial, stats)));
            }
        }
        return 0;
    }
}
