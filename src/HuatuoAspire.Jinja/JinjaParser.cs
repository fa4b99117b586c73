using System.Globalization;

namespace HuatuoAspire.Jinja;

/// <summary>
/// Recursive-descent parser for the Jinja subset chat templates use, with Jinja2's operator precedence
/// (lowest first): conditional, or, and, not, comparisons/in, + -, ~, * / // %, **, unary - +, then postfix
/// (attribute, subscript, call) and filters/tests, which bind tightest.
/// </summary>
internal sealed class JinjaParser
{
    private readonly List<JinjaToken> _tokens;
    private int _position;

    private JinjaParser(List<JinjaToken> tokens) => _tokens = tokens;

    public static IReadOnlyList<Statement> Parse(string source)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(source));
        var body = parser.ParseBody([]);
        if (parser.Current.Kind != TokenKind.End)
            throw JinjaException.At(parser.Current.Line, $"unexpected {{% {parser.Peek(1).Value} %}} with no open block");
        return body;
    }

    private JinjaToken Current => _tokens[_position];

    private JinjaToken Peek(int offset) => _tokens[Math.Min(_position + offset, _tokens.Count - 1)];

    private JinjaToken Next() => _tokens[_position++];

    private JinjaToken Expect(TokenKind kind, string? value = null)
    {
        var token = Current;
        if (token.Kind != kind || (value is not null && token.Value != value))
            throw JinjaException.At(token.Line, $"expected {value ?? kind.ToString()}, found {token}");
        _position++;
        return token;
    }

    private bool SkipOperator(string op)
    {
        if (!Current.IsOperator(op)) return false;
        _position++;
        return true;
    }

    private bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        _position++;
        return true;
    }

    // Statements until one of the given block tags ({% endfor %}, {% else %}, ...), which is left unconsumed.
    private List<Statement> ParseBody(string[] terminators)
    {
        var body = new List<Statement>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.End:
                    if (terminators.Length > 0)
                        throw JinjaException.At(token.Line, $"missing {{% {terminators[^1]} %}} before the end of the template");
                    return body;
                case TokenKind.Text:
                    body.Add(new TextStatement(token.Line, Next().Value));
                    break;
                case TokenKind.VariableStart:
                    Next();
                    body.Add(new OutputStatement(token.Line, ParseTupleOrExpression()));
                    Expect(TokenKind.VariableEnd);
                    break;
                case TokenKind.BlockStart:
                    var name = Peek(1);
                    if (name.Kind == TokenKind.Name && terminators.Contains(name.Value)) return body;
                    Next();
                    var statement = ParseStatement();
                    if (statement is not null) body.Add(statement);
                    break;
                default:
                    throw JinjaException.At(token.Line, $"unexpected {token}");
            }
        }
    }

    private Statement? ParseStatement()
    {
        var keyword = Expect(TokenKind.Name);
        switch (keyword.Value)
        {
            case "if": return ParseIf(keyword.Line);
            case "for": return ParseFor(keyword.Line);
            case "set": return ParseSet(keyword.Line);
            case "macro": return ParseMacro(keyword.Line);
            case "break": Expect(TokenKind.BlockEnd); return new BreakStatement(keyword.Line);
            case "continue": Expect(TokenKind.BlockEnd); return new ContinueStatement(keyword.Line);
            // transformers' {% generation %} marks assistant tokens for masks; it renders nothing itself.
            case "generation" or "endgeneration": Expect(TokenKind.BlockEnd); return null;
            default: throw JinjaException.At(keyword.Line, $"unknown tag '{keyword.Value}'");
        }
    }

    private IfStatement ParseIf(int line)
    {
        var condition = ParseExpression();
        Expect(TokenKind.BlockEnd);
        var then = ParseBody(["elif", "else", "endif"]);
        Expect(TokenKind.BlockStart);
        var tag = Expect(TokenKind.Name);
        IReadOnlyList<Statement> otherwise = [];
        if (tag.Value == "elif")
        {
            otherwise = [ParseIf(tag.Line)];
            return new IfStatement(line, condition, then, otherwise);
        }
        if (tag.Value == "else")
        {
            Expect(TokenKind.BlockEnd);
            otherwise = ParseBody(["endif"]);
            Expect(TokenKind.BlockStart);
            Expect(TokenKind.Name, "endif");
        }
        Expect(TokenKind.BlockEnd);
        return new IfStatement(line, condition, then, otherwise);
    }

    private ForStatement ParseFor(int line)
    {
        var targets = new List<string> { Expect(TokenKind.Name).Value };
        while (SkipOperator(",")) targets.Add(Expect(TokenKind.Name).Value);
        Expect(TokenKind.Name, "in");
        var iterable = ParseTupleOrExpression(withCondition: false);
        Expression? filter = null;
        if (SkipName("if")) filter = ParseExpression();
        if (Current.IsName("recursive")) throw JinjaException.At(Current.Line, "recursive for loops are not supported");
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["else", "endfor"]);
        Expect(TokenKind.BlockStart);
        IReadOnlyList<Statement> otherwise = [];
        if (SkipName("else"))
        {
            Expect(TokenKind.BlockEnd);
            otherwise = ParseBody(["endfor"]);
            Expect(TokenKind.BlockStart);
        }
        Expect(TokenKind.Name, "endfor");
        Expect(TokenKind.BlockEnd);
        return new ForStatement(line, targets, iterable, filter, body, otherwise);
    }

    private SetStatement ParseSet(int line)
    {
        var targets = new List<string> { Expect(TokenKind.Name).Value };
        string? attribute = null;
        if (SkipOperator(".")) attribute = Expect(TokenKind.Name).Value;
        else while (SkipOperator(",")) targets.Add(Expect(TokenKind.Name).Value);
        if (SkipOperator("="))
        {
            var value = ParseTupleOrExpression();
            Expect(TokenKind.BlockEnd);
            return new SetStatement(line, targets, attribute, value, []);
        }
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endset"]);
        Expect(TokenKind.BlockStart);
        Expect(TokenKind.Name, "endset");
        Expect(TokenKind.BlockEnd);
        return new SetStatement(line, targets, attribute, null, body);
    }

    private MacroStatement ParseMacro(int line)
    {
        var name = Expect(TokenKind.Name).Value;
        Expect(TokenKind.Operator, "(");
        var parameters = new List<(string, Expression?)>();
        while (!SkipOperator(")"))
        {
            if (parameters.Count > 0) Expect(TokenKind.Operator, ",");
            if (SkipOperator(")")) break;
            var parameter = Expect(TokenKind.Name).Value;
            parameters.Add((parameter, SkipOperator("=") ? ParseExpression() : null));
        }
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endmacro"]);
        Expect(TokenKind.BlockStart);
        Expect(TokenKind.Name, "endmacro");
        if (Current.Kind == TokenKind.Name) Next(); // {% endmacro name %}
        Expect(TokenKind.BlockEnd);
        return new MacroStatement(line, name, parameters, body);
    }

    // `a, b` without brackets is a tuple (a list here), as in {% for x in a, b %} or {{ a, b }}.
    private Expression ParseTupleOrExpression(bool withCondition = true)
    {
        var line = Current.Line;
        var first = ParseExpression(withCondition);
        if (!Current.IsOperator(",")) return first;
        var items = new List<Expression> { first };
        while (SkipOperator(","))
        {
            if (Current.Kind is TokenKind.BlockEnd or TokenKind.VariableEnd || Current.IsName("if") || Current.IsName("in")
                || Current.IsOperator(")") || Current.IsOperator("]") || Current.IsOperator("=")) break;
            items.Add(ParseExpression(withCondition));
        }
        return new ListExpression(line, items, IsTuple: true);
    }

    private Expression ParseExpression(bool withCondition = true)
    {
        var expression = ParseOr();
        if (!withCondition) return expression;
        while (Current.IsName("if"))
        {
            var line = Next().Line;
            var condition = ParseOr();
            Expression? otherwise = SkipName("else") ? ParseExpression() : null;
            expression = new ConditionalExpression(line, condition, expression, otherwise);
        }
        return expression;
    }

    private Expression ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or")) left = new BinaryExpression(Next().Line, "or", left, ParseAnd());
        return left;
    }

    private Expression ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and")) left = new BinaryExpression(Next().Line, "and", left, ParseNot());
        return left;
    }

    private Expression ParseNot() =>
        Current.IsName("not") ? new UnaryExpression(Next().Line, "not", ParseNot()) : ParseCompare();

    private Expression ParseCompare()
    {
        var line = Current.Line;
        var first = ParseMath1();
        var rest = new List<(string, Expression)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && Current.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
                rest.Add((Next().Value, ParseMath1()));
            else if (Current.IsName("in"))
            {
                Next();
                rest.Add(("in", ParseMath1()));
            }
            else if (Current.IsName("not") && Peek(1).IsName("in"))
            {
                _position += 2;
                rest.Add(("not in", ParseMath1()));
            }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpression(line, first, rest);
    }

    private Expression ParseMath1()
    {
        var left = ParseConcat();
        while (Current.Kind == TokenKind.Operator && Current.Value is "+" or "-")
        {
            var op = Next();
            left = new BinaryExpression(op.Line, op.Value, left, ParseConcat());
        }
        return left;
    }

    private Expression ParseConcat()
    {
        var left = ParseMath2();
        while (Current.IsOperator("~")) left = new BinaryExpression(Next().Line, "~", left, ParseMath2());
        return left;
    }

    private Expression ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            var op = Next();
            left = new BinaryExpression(op.Line, op.Value, left, ParsePow());
        }
        return left;
    }

    private Expression ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Current.IsOperator("**")) left = new BinaryExpression(Next().Line, "**", left, ParseUnary(withFilter: true));
        return left;
    }

    private Expression ParseUnary(bool withFilter)
    {
        Expression expression;
        if (Current.Kind == TokenKind.Operator && Current.Value is "-" or "+")
        {
            var op = Next();
            expression = new UnaryExpression(op.Line, op.Value, ParseUnary(withFilter: false));
        }
        else expression = ParsePrimary();
        expression = ParsePostfix(expression);
        return withFilter ? ParseFilters(expression) : expression;
    }

    private Expression ParsePrimary()
    {
        var token = Next();
        switch (token.Kind)
        {
            case TokenKind.Name:
                return token.Value switch
                {
                    "true" or "True" => new LiteralExpression(token.Line, true),
                    "false" or "False" => new LiteralExpression(token.Line, false),
                    "none" or "None" => new LiteralExpression(token.Line, null),
                    _ => new NameExpression(token.Line, token.Value),
                };
            case TokenKind.String:
                var text = token.Value;
                while (Current.Kind == TokenKind.String) text += Next().Value; // adjacent literals concatenate
                return new LiteralExpression(token.Line, text);
            case TokenKind.Integer:
                return new LiteralExpression(token.Line, long.Parse(token.Value, CultureInfo.InvariantCulture));
            case TokenKind.Float:
                return new LiteralExpression(token.Line, double.Parse(token.Value, CultureInfo.InvariantCulture));
            case TokenKind.Operator when token.Value == "(":
                if (SkipOperator(")")) return new ListExpression(token.Line, [], IsTuple: true);
                var inner = ParseTupleOrExpression();
                Expect(TokenKind.Operator, ")");
                return inner;
            case TokenKind.Operator when token.Value == "[":
                var items = new List<Expression>();
                while (!SkipOperator("]"))
                {
                    if (items.Count > 0) Expect(TokenKind.Operator, ",");
                    if (SkipOperator("]")) break;
                    items.Add(ParseExpression());
                }
                return new ListExpression(token.Line, items);
            case TokenKind.Operator when token.Value == "{":
                var pairs = new List<(Expression, Expression)>();
                while (!SkipOperator("}"))
                {
                    if (pairs.Count > 0) Expect(TokenKind.Operator, ",");
                    if (SkipOperator("}")) break;
                    var key = ParseExpression();
                    Expect(TokenKind.Operator, ":");
                    pairs.Add((key, ParseExpression()));
                }
                return new DictExpression(token.Line, pairs);
            default:
                throw JinjaException.At(token.Line, $"unexpected {token} in an expression");
        }
    }

    private Expression ParsePostfix(Expression expression)
    {
        while (true)
        {
            if (Current.IsOperator("."))
            {
                var line = Next().Line;
                var name = Next();
                expression = name.Kind switch
                {
                    TokenKind.Name => new AttributeExpression(line, expression, name.Value),
                    TokenKind.Integer => new IndexExpression(line, expression, new LiteralExpression(line, long.Parse(name.Value, CultureInfo.InvariantCulture))),
                    _ => throw JinjaException.At(line, $"expected an attribute name after '.', found {name}"),
                };
            }
            else if (Current.IsOperator("[")) expression = ParseSubscript(expression);
            else if (Current.IsOperator("(")) expression = ParseCall(expression);
            else return expression;
        }
    }

    private Expression ParseSubscript(Expression target)
    {
        var line = Expect(TokenKind.Operator, "[").Line;
        Expression? start = null, stop = null, step = null;
        if (!Current.IsOperator(":")) start = ParseExpression();
        if (SkipOperator(":"))
        {
            if (!Current.IsOperator("]") && !Current.IsOperator(":")) stop = ParseExpression();
            if (SkipOperator(":") && !Current.IsOperator("]")) step = ParseExpression();
            Expect(TokenKind.Operator, "]");
            return new SliceExpression(line, target, start, stop, step);
        }
        Expect(TokenKind.Operator, "]");
        return new IndexExpression(line, target, start!);
    }

    private CallExpression ParseCall(Expression callee)
    {
        var line = Current.Line;
        var (arguments, keywords) = ParseArguments();
        return new CallExpression(line, callee, arguments, keywords);
    }

    private (List<Expression>, List<(string, Expression)>) ParseArguments()
    {
        Expect(TokenKind.Operator, "(");
        var arguments = new List<Expression>();
        var keywords = new List<(string, Expression)>();
        while (!SkipOperator(")"))
        {
            if (arguments.Count + keywords.Count > 0) Expect(TokenKind.Operator, ",");
            if (SkipOperator(")")) break;
            if (Current.Kind == TokenKind.Name && Peek(1).IsOperator("="))
            {
                var name = Next().Value;
                Next();
                keywords.Add((name, ParseExpression()));
            }
            else
            {
                if (keywords.Count > 0) throw JinjaException.At(Current.Line, "positional argument after keyword argument");
                arguments.Add(ParseExpression());
            }
        }
        return (arguments, keywords);
    }

    private Expression ParseFilters(Expression expression)
    {
        while (true)
        {
            if (Current.IsOperator("|"))
            {
                var line = Next().Line;
                var name = Expect(TokenKind.Name).Value;
                while (SkipOperator(".")) name += "." + Expect(TokenKind.Name).Value;
                var (arguments, keywords) = Current.IsOperator("(") ? ParseArguments() : ([], []);
                expression = new FilterExpression(line, expression, name, arguments, keywords);
            }
            else if (Current.IsName("is"))
            {
                var line = Next().Line;
                var negated = SkipName("not");
                var name = Expect(TokenKind.Name).Value;
                List<Expression> arguments = [];
                if (Current.IsOperator("(")) arguments = ParseArguments().Item1;
                else if ((Current.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float
                          || (Current.Kind == TokenKind.Name && Current.Value is not ("else" or "or" or "and" or "if" or "in" or "not" or "is"))
                          || Current.IsOperator("[") || Current.IsOperator("{")))
                    arguments = [ParsePostfix(ParsePrimary())];
                expression = new TestExpression(line, expression, name, negated, arguments);
            }
            else if (Current.IsOperator("(")) expression = ParseCall(expression);
            else return expression;
        }
    }
}
