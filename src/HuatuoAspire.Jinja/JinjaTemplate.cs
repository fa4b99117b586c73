using System.Text;

namespace HuatuoAspire.Jinja;

/// <summary>
/// A parsed Jinja template, rendered the way transformers renders chat templates (Jinja2 with trim_blocks,
/// lstrip_blocks and loop controls; globals <c>raise_exception</c>, <c>strftime_now</c>, <c>namespace</c>,
/// <c>range</c>, <c>dict</c>). Parse once, render many times; rendering is thread-safe.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly IReadOnlyList<Statement> _program;

    /// <summary>Parses <paramref name="source"/>; a syntax error is a <see cref="JinjaException"/> naming the line.</summary>
    public JinjaTemplate(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        Source = source;
        _program = JinjaParser.Parse(source);
    }

    public string Source { get; }

    /// <summary>Renders with <paramref name="variables"/> (.NET or JSON values, converted by <see cref="JinjaValues.FromDotNet"/>).</summary>
    public string Render(IReadOnlyDictionary<string, object?> variables, TimeProvider? clock = null)
    {
        var globals = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, function) in JinjaBuiltins.Globals(clock ?? TimeProvider.System)) globals[name] = function;
        foreach (var (name, value) in variables) globals[name] = JinjaValues.FromDotNet(value);
        var output = new StringBuilder();
        new JinjaInterpreter(output).Run(_program, new JinjaScope(globals, null));
        return output.ToString();
    }
}

/// <summary>One level of variables: the template's top level, a loop iteration, or a macro call.</summary>
internal sealed class JinjaScope(Dictionary<string, object?> variables, JinjaScope? parent)
{
    public JinjaScope(JinjaScope parent) : this(new Dictionary<string, object?>(StringComparer.Ordinal), parent) { }

    public bool TryGet(string name, out object? value)
    {
        for (var scope = this; scope is not null; scope = scope.Parent)
            if (scope.Variables.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }

    public void Set(string name, object? value) => Variables[name] = value;

    private Dictionary<string, object?> Variables { get; } = variables;

    private JinjaScope? Parent { get; } = parent;
}
