using System.CommandLine;
using System.Text.Json;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Generation;
using HuatuoAspire.Model.Tokenization;
using HuatuoAspire.Model.Tokenization.ChatTemplates;

namespace HuatuoAspire.Cli.Commands;

/// <summary>`huatuo generate`: a completion from a model folder, streamed.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model folder.", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The prompt text.", Required = true };
        var maxNew = new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => 128 };
        var temperature = new Option<double>("--temperature") { Description = "0 = greedy.", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { DefaultValueFactory = _ => 1.0 };
        var topK = new Option<int>("--top-k") { DefaultValueFactory = _ => 0 };
        var seed = new Option<int?>("--seed");
        var chat = new Option<bool>("--chat") { Description = "Wrap the prompt as a user message in the model's chat template." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object {prompt_ids, ids, text} instead of streaming text." };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto.", DefaultValueFactory = _ => "auto" };
        var dtype = WeightDTypeOption.Create();
        var command = new Command("generate", "Generate a completion with a model folder (streamed).")
        {
            model, prompt, maxNew, temperature, topP, topK, seed, chat, json, device, dtype,
        };
        command.SetAction((parse, ct) =>
        {
            var dir = parse.GetValue(model)!.FullName;
            var tokenizer = HfTokenizer.FromFolder(dir);
            using var lm = CausalLanguageModel.FromPretrained(dir, ModelPlacement.ForWeights(parse.GetValue(device), parse.GetValue(dtype)));
            var text = parse.GetValue(prompt)!;
            var promptIds = parse.GetValue(chat)
                ? tokenizer.EncodeChat([new ChatMessage("user", text)])
                : tokenizer.Encode(text);
            var options = new SamplingOptions
            {
                Temperature = parse.GetValue(temperature),
                TopP = parse.GetValue(topP),
                TopK = parse.GetValue(topK),
                Seed = parse.GetValue(seed),
                MaxNewTokens = parse.GetValue(maxNew),
            };
            var asJson = parse.GetValue(json);
            var result = TextGeneration.Generate(lm, tokenizer, [promptIds], options,
                onText: asJson ? null : (_, chunk) => Console.Out.Write(chunk), ct: ct)[0];
            if (asJson)
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(new { prompt_ids = result.PromptIds, ids = result.TokenIds, text = result.Text }));
            }
            else
            {
                Console.Out.WriteLine();
            }
            return Task.FromResult(0);
        });
        return command;
    }
}
