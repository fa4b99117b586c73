using System.ComponentModel;
using System.Reflection;
using System.Text.Json.Serialization;

namespace HuatuoAspire.Training;

/// <summary>
/// One field of a training stage's options record (<see cref="Sft.SftOptions"/>, <see cref="Ppo.PpoOptions"/>) as the
/// trainer API takes it: its JSON name, its description and its default. The records are the one list of a stage's
/// fields; a front end that offers them (the command line) reads them here instead of listing them again.
/// </summary>
public sealed record StageOptionField(string JsonName, PropertyInfo Property, string? Description, object? Default)
{
    /// <summary>The fields of <typeparamref name="TOptions"/> with a JSON name, in declaration order; settings the API does not take are left out.</summary>
    public static IReadOnlyList<StageOptionField> Of<TOptions>() where TOptions : new()
    {
        var defaults = new TOptions();
        return typeof(TOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => (Property: p, Json: p.GetCustomAttribute<JsonPropertyNameAttribute>()))
            .Where(p => p.Json is not null)
            .Select(p => new StageOptionField(p.Json!.Name, p.Property, p.Property.GetCustomAttribute<DescriptionAttribute>()?.Description,
                p.Property.GetValue(defaults)))
            .ToList();
    }

    /// <summary>Sets this field of <paramref name="options"/> (a fresh record, not yet shared).</summary>
    public void Set<TOptions>(TOptions options, object? value) where TOptions : class => Property.SetValue(options, value);
}
