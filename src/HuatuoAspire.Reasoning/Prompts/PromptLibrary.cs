using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.SemanticKernel;

namespace HuatuoAspire.Reasoning.Prompts;

/// <summary>
/// The prompt templates shipped as embedded files (<c>Prompts/&lt;language&gt;/&lt;name&gt;.txt</c>), each a Semantic
/// Kernel prompt template with named inputs (<c>{{$question}}</c>). Inputs are inserted as written: they are questions,
/// reasoning and labels, never chat markup to be parsed, so Semantic Kernel's HTML encoding of inputs is turned off.
/// </summary>
public static class PromptLibrary
{
    private static readonly Kernel Kernel = new();
    private static readonly KernelPromptTemplateFactory Factory = new() { AllowDangerouslySetContent = true };
    private static readonly ConcurrentDictionary<string, IPromptTemplate> Templates = new(StringComparer.Ordinal);

    /// <summary>The template of prompt <paramref name="name"/> in <paramref name="language"/>, as Semantic Kernel reads it.</summary>
    public static PromptTemplateConfig Config(string name, PromptLanguage language) =>
        new(ReadTemplate(language, name))
        {
            Name = name.Replace('-', '_'),
            TemplateFormat = PromptTemplateConfig.SemanticKernelTemplateFormat,
            AllowDangerouslySetContent = true,
        };

    /// <summary>The text of prompt <paramref name="name"/> with its named inputs filled in.</summary>
    public static Task<string> RenderAsync(string name, PromptLanguage language, IReadOnlyDictionary<string, string> inputs, CancellationToken cancellationToken = default)
    {
        var template = Templates.GetOrAdd($"{language.Name()}/{name}", _ => Factory.Create(Config(name, language)));
        var arguments = new KernelArguments();
        foreach (var (key, value) in inputs) arguments[key] = value;
        return template.RenderAsync(Kernel, arguments, cancellationToken);
    }

    private static string ReadTemplate(PromptLanguage language, string name)
    {
        var resource = $"HuatuoAspire.Reasoning.Prompts.{language.Name()}.{name}.txt";
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"No prompt template {resource}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
