using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Model.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HuatuoAspire.Model.Modules;

/// <summary>
/// LoRA over a whole <see cref="CausalLanguageModel"/>: attach adapters to the projections named in the targets,
/// list their parameters under PEFT's names, save and load them in PEFT's layout (<c>adapter_config.json</c> +
/// <c>adapter_model.safetensors</c> with keys <c>base_model.model.{module}.lora_A.weight</c>), and merge them into
/// the base weights for export.
/// </summary>
public static class LoraAdapters
{
    public const string ConfigFileName = "adapter_config.json";
    public const string WeightsFileName = "adapter_model.safetensors";
    private const string KeyPrefix = "base_model.model.";

    /// <summary>The projections whose last name segment is one of <paramref name="targets"/>, by module name.</summary>
    public static List<(string Name, Projection Projection)> Targets(nn.Module model, IReadOnlyList<string> targets)
    {
        var wanted = targets.Select(t => t.Trim()).ToHashSet(StringComparer.Ordinal);
        var all = model.named_modules().Where(m => m.module is Projection).Select(m => (m.name, (Projection)m.module)).ToList();
        var found = all.Where(m => wanted.Contains(m.name[(m.name.LastIndexOf('.') + 1)..])).ToList();
        var unknown = wanted.Where(t => !all.Any(m => m.name.EndsWith("." + t, StringComparison.Ordinal) || m.name == t)).ToList();
        if (unknown.Count > 0)
        {
            var names = all.Select(m => m.name[(m.name.LastIndexOf('.') + 1)..]).Distinct().Order(StringComparer.Ordinal);
            throw new ArgumentException($"No projection is named {string.Join(", ", unknown)}; this model has {string.Join(", ", names)}.");
        }
        return found;
    }

    /// <summary>
    /// Freezes every base parameter and attaches a fresh adapter to each target projection (B = 0, so the model's
    /// outputs are unchanged). Returns the adapted modules. A's initialisation draws from <paramref name="generator"/>
    /// (a private one makes it independent of whatever else uses the global generator), else the global one.
    /// </summary>
    public static List<(string Name, Projection Projection)> Attach(nn.Module model, LoraSettings settings, Generator? generator = null)
    {
        settings.Validate();
        var targets = Targets(model, settings.Targets);
        if (targets.FirstOrDefault(t => t.Projection.Lora is not null) is { Name: { } taken }) throw new InvalidOperationException($"{taken} already has a LoRA adapter.");
        foreach (var (_, p) in model.named_parameters()) p.requires_grad = false;
        foreach (var (_, projection) in targets) projection.AttachLora(settings.Rank, settings.Alpha, settings.Dropout, generator);
        return targets;
    }

    /// <summary>Every adapter parameter under its PEFT name (without the <c>base_model.model.</c> prefix).</summary>
    public static List<(string Name, Parameter Parameter)> NamedParameters(nn.Module model) =>
        model.named_modules()
            .Where(m => m.module is Projection { Lora: not null })
            .SelectMany(m =>
            {
                var lora = ((Projection)m.module).Lora!;
                return new[] { ($"{m.name}.lora_A.weight", lora.A), ($"{m.name}.lora_B.weight", lora.B) };
            })
            .ToList();

    /// <summary>W += scaling·B·A for every adapter, which is then removed: a plain Hugging Face model again.</summary>
    public static int Merge(nn.Module model)
    {
        var merged = 0;
        foreach (var (_, module) in model.named_modules())
        {
            if (module is Projection { Lora: not null } projection)
            {
                projection.MergeLora();
                merged++;
            }
        }
        return merged;
    }

    /// <summary>Writes the adapters in PEFT's layout to <paramref name="directory"/>.</summary>
    public static void Save(nn.Module model, LoraSettings settings, string directory, string? baseModel = null)
    {
        var parameters = NamedParameters(model);
        if (parameters.Count == 0) throw new InvalidOperationException("The model has no LoRA adapter to save.");
        Directory.CreateDirectory(directory);
        HuggingFaceCheckpoint.WriteFile(Path.Combine(directory, WeightsFileName),
            parameters.Select(p => (KeyPrefix + p.Name, (Tensor)p.Parameter)));
        var config = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["base_model_name_or_path"] = baseModel,
            ["r"] = settings.Rank,
            ["lora_alpha"] = settings.Alpha,
            ["lora_dropout"] = settings.Dropout,
            ["target_modules"] = new JsonArray(settings.Targets.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray()),
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["use_rslora"] = false,
            ["init_lora_weights"] = true,
            ["inference_mode"] = true,
            ["modules_to_save"] = null,
        };
        File.WriteAllText(Path.Combine(directory, ConfigFileName), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads <c>adapter_config.json</c>: the settings an adapter folder was trained with.</summary>
    public static LoraSettings ReadSettings(string directory)
    {
        var path = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(path)) throw new ModelFormatException($"{directory} has no {ConfigFileName}.");
        var node = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelFormatException($"{path} is not a JSON object.");
        if (node["peft_type"]?.GetValue<string>() is { } type && type != "LORA") throw new ModelFormatException($"{path}: peft_type {type} is not LORA.");
        if (node["use_rslora"]?.GetValue<bool>() == true) throw new ModelFormatException($"{path}: rank-stabilised LoRA (use_rslora) is not supported.");
        if (node["fan_in_fan_out"]?.GetValue<bool>() == true) throw new ModelFormatException($"{path}: fan_in_fan_out adapters are not supported.");
        var rank = node["r"]?.GetValue<int>() ?? throw new ModelFormatException($"{path} has no r.");
        var alpha = node["lora_alpha"]?.GetValue<double>() ?? rank;
        var dropout = node["lora_dropout"]?.GetValue<double>() ?? 0;
        var targets = node["target_modules"] switch
        {
            JsonArray a => a.Select(t => t!.GetValue<string>()).ToList(),
            JsonValue v => v.GetValue<string>().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList(),
            _ => throw new ModelFormatException($"{path} has no target_modules."),
        };
        var settings = new LoraSettings(rank, alpha, dropout, targets);
        try
        {
            settings.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ModelFormatException($"{path}: {e.Message}");
        }
        return settings;
    }

    /// <summary>
    /// Attaches the adapters saved in <paramref name="directory"/> to <paramref name="model"/> (freezing the base) and
    /// loads their weights strictly: every adapter tensor must be present with its shape, and nothing else.
    /// </summary>
    public static LoraSettings Load(nn.Module model, string directory)
    {
        var settings = ReadSettings(directory);
        using var file = HuggingFaceCheckpoint.OpenFile(Path.Combine(directory, WeightsFileName));
        // Check everything before touching the model, so a bad adapter leaves it as it was.
        var expected = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (name, projection) in Targets(model, settings.Targets))
        {
            expected[$"{KeyPrefix}{name}.lora_A.weight"] = [settings.Rank, projection.InFeatures];
            expected[$"{KeyPrefix}{name}.lora_B.weight"] = [projection.OutFeatures, settings.Rank];
        }
        var missing = expected.Keys.Where(k => !file.Names.Contains(k)).ToList();
        var unexpected = file.Names.Where(k => !expected.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            throw new ModelFormatException($"{directory}: the adapter does not match the model." +
                (missing.Count > 0 ? $" Missing: {string.Join(", ", missing.Take(10))}." : "") +
                (unexpected.Count > 0 ? $" Unexpected: {string.Join(", ", unexpected.Take(10))}." : ""));
        }
        foreach (var (name, shape) in expected)
        {
            var info = file.Info(name);
            if (!info.Shape.SequenceEqual(shape))
            {
                throw new ModelFormatException($"{directory}: '{name}' has shape [{string.Join(", ", info.Shape)}], the model expects [{string.Join(", ", shape)}].");
            }
        }

        Attach(model, settings);
        using var _ = no_grad();
        foreach (var (name, parameter) in NamedParameters(model))
        {
            using var value = file.Read(KeyPrefix + name);
            parameter.copy_(value);
        }
        return settings;
    }
}
