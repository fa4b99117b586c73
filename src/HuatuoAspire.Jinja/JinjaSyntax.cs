namespace HuatuoAspire.Jinja;

// The syntax tree of a template: statements produce output, expressions produce values. Every node keeps the
// template line it came from so that errors can name it.

internal abstract record Statement(int Line);

internal sealed record TextStatement(int Line, string Text) : Statement(Line);

internal sealed record OutputStatement(int Line, Expression Value) : Statement(Line);

internal sealed record IfStatement(int Line, Expression Condition, IReadOnlyList<Statement> Then, IReadOnlyList<Statement> Else) : Statement(Line);

internal sealed record ForStatement(
    int Line, IReadOnlyList<string> Targets, Expression Iterable, Expression? Filter,
    IReadOnlyList<Statement> Body, IReadOnlyList<Statement> Else) : Statement(Line);

/// <summary><c>{% set x = v %}</c>, <c>{% set ns.attr = v %}</c>, <c>{% set a, b = v %}</c> or a block set when Value is null.</summary>
internal sealed record SetStatement(int Line, IReadOnlyList<string> Targets, string? Attribute, Expression? Value, IReadOnlyList<Statement> Body) : Statement(Line);

internal sealed record MacroStatement(int Line, string Name, IReadOnlyList<(string Name, Expression? Default)> Parameters, IReadOnlyList<Statement> Body) : Statement(Line);

internal sealed record BreakStatement(int Line) : Statement(Line);

internal sealed record ContinueStatement(int Line) : Statement(Line);

internal abstract record Expression(int Line);

internal sealed record LiteralExpression(int Line, object? Value) : Expression(Line);

internal sealed record NameExpression(int Line, string Name) : Expression(Line);

/// <summary>A list literal, or a tuple when <paramref name="IsTuple"/> (parenthesised or bare commas).</summary>
internal sealed record ListExpression(int Line, IReadOnlyList<Expression> Items, bool IsTuple = false) : Expression(Line);

internal sealed record DictExpression(int Line, IReadOnlyList<(Expression Key, Expression Value)> Items) : Expression(Line);

internal sealed record AttributeExpression(int Line, Expression Target, string Name) : Expression(Line);

internal sealed record IndexExpression(int Line, Expression Target, Expression Index) : Expression(Line);

internal sealed record SliceExpression(int Line, Expression Target, Expression? Start, Expression? Stop, Expression? Step) : Expression(Line);

internal sealed record CallExpression(int Line, Expression Callee, IReadOnlyList<Expression> Arguments, IReadOnlyList<(string Name, Expression Value)> Keywords) : Expression(Line);

internal sealed record FilterExpression(int Line, Expression Value, string Name, IReadOnlyList<Expression> Arguments, IReadOnlyList<(string Name, Expression Value)> Keywords) : Expression(Line);

internal sealed record TestExpression(int Line, Expression Value, string Name, bool Negated, IReadOnlyList<Expression> Arguments) : Expression(Line);

internal sealed record UnaryExpression(int Line, string Operator, Expression Operand) : Expression(Line);

internal sealed record BinaryExpression(int Line, string Operator, Expression Left, Expression Right) : Expression(Line);

/// <summary>A chain such as <c>a &lt; b &lt;= c</c>: each comparison with its right neighbour, all must hold.</summary>
internal sealed record CompareExpression(int Line, Expression First, IReadOnlyList<(string Operator, Expression Operand)> Rest) : Expression(Line);

internal sealed record ConditionalExpression(int Line, Expression Condition, Expression Then, Expression? Else) : Expression(Line);
