using System.CommandLine;
using HuatuoAspire.Training;

namespace HuatuoAspire.Cli.Commands;

/// <summary>
/// The command-line options of a training stage: one per field of its options record (<see cref="StageOptionField"/>),
/// named after the field's JSON name with dashes unless the command line has an established shorter name, with the
/// record's description and default; and the record read back from a parse.
/// </summary>
internal sealed class StageOptionArguments<TOptions> where TOptions : class, new()
{
    private readonly List<(StageOptionField Field, Option Option, Func<ParseResult, object?> Read)> _fields = [];

    /// <param name="names">Command-line names by JSON name, where they are not the JSON name with dashes.</param>
    public StageOptionArguments(IReadOnlyDictionary<string, string> names)
    {
        foreach (var field in StageOptionField.Of<TOptions>())
        {
            var name = names.GetValueOrDefault(field.JsonName) ?? "--" + field.JsonName.Replace('_', '-');
            var (option, read) = Create(name, field);
            _fields.Add((field, option, read));
        }
    }

    public IEnumerable<Option> Options => _fields.Select(f => f.Option);

    /// <summary>The options record with every field as parsed (its default where the option was not given).</summary>
    public TOptions Read(ParseResult parse)
    {
        var options = new TOptions();
        foreach (var (field, _, read) in _fields) field.Set(options, read(parse));
        return options;
    }

    private static (Option, Func<ParseResult, object?>) Create(string name, StageOptionField field)
    {
        var type = field.Property.PropertyType;
        if (type == typeof(int)) return Typed<int>(name, field);
        if (type == typeof(double)) return Typed<double>(name, field);
        if (type == typeof(bool)) return Typed<bool>(name, field);
        if (type == typeof(IReadOnlyList<string>))
        {
            var option = new Option<string>(name)
            {
                Description = $"{field.Description} Comma-separated.".Trim(),
                DefaultValueFactory = _ => string.Join(",", (IReadOnlyList<string>)field.Default!),
            };
            return (option, parse => parse.GetValue(option)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        throw new NotSupportedException($"{typeof(TOptions).Name}.{field.Property.Name}: a {type.Name} field has no command-line form yet.");
    }

    private static (Option, Func<ParseResult, object?>) Typed<T>(string name, StageOptionField field)
    {
        var option = new Option<T>(name) { Description = field.Description, DefaultValueFactory = _ => (T)field.Default! };
        return (option, parse => parse.GetValue(option));
    }
}
