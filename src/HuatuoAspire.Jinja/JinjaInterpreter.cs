using System.Text;

namespace HuatuoAspire.Jinja;

/// <summary>Walks the syntax tree, writing output; expressions follow Python's semantics through <see cref="JinjaValues"/>.</summary>
internal sealed class JinjaInterpreter(StringBuilder output)
{
    private enum Flow { Normal, Break, Continue }

    private StringBuilder _output = output;

    public void Run(IReadOnlyList<Statement> program, JinjaScope scope)
    {
        if (Execute(program, scope) != Flow.Normal) throw new JinjaException("chat template: break or continue outside a loop");
    }

    private Flow Execute(IReadOnlyList<Statement> statements, JinjaScope scope)
    {
        foreach (var statement in statements)
        {
            var flow = Execute(statement, scope);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Execute(Statement statement, JinjaScope scope)
    {
        try
        {
            switch (statement)
            {
                case TextStatement text:
                    _output.Append(text.Text);
                    return Flow.Normal;
                case OutputStatement output:
                    _output.Append(JinjaValues.ToStr(Evaluate(output.Value, scope)));
                    return Flow.Normal;
                case IfStatement conditional:
                    return Execute(JinjaValues.Truthy(Evaluate(conditional.Condition, scope)) ? conditional.Then : conditional.Else, scope);
                case ForStatement loop:
                    return ExecuteFor(loop, scope);
                case SetStatement set:
                    ExecuteSet(set, scope);
                    return Flow.Normal;
                case MacroStatement macro:
                    scope.Set(macro.Name, MakeMacro(macro, scope));
                    return Flow.Normal;
                case BreakStatement:
                    return Flow.Break;
                case ContinueStatement:
                    return Flow.Continue;
                default:
                    throw new InvalidOperationException($"unknown statement {statement.GetType().Name}");
            }
        }
        catch (JinjaException) { throw; }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException or OverflowException or DivideByZeroException)
        {
            throw JinjaException.At(statement.Line, e.Message);
        }
    }

    private Flow ExecuteFor(ForStatement loop, JinjaScope scope)
    {
        var items = JinjaValues.Iterate(Evaluate(loop.Iterable, scope)).ToList();
        if (loop.Filter is not null)
        {
            items = items.Where(item =>
            {
                var probe = new JinjaScope(scope);
                Bind(loop.Targets, item, probe);
                return JinjaValues.Truthy(Evaluate(loop.Filter, probe));
            }).ToList();
        }
        if (items.Count == 0) return Execute(loop.Else, scope);
        for (var i = 0; i < items.Count; i++)
        {
            var iteration = new JinjaScope(scope);
            var index = i;
            var loopObject = new OrderedDictionary<string, object?>(StringComparer.Ordinal)
            {
                ["index"] = (long)(i + 1),
                ["index0"] = (long)i,
                ["revindex"] = (long)(items.Count - i),
                ["revindex0"] = (long)(items.Count - i - 1),
                ["first"] = i == 0,
                ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count,
                ["previtem"] = i > 0 ? items[i - 1] : new JinjaUndefined("loop.previtem"),
                ["nextitem"] = i + 1 < items.Count ? items[i + 1] : new JinjaUndefined("loop.nextitem"),
                ["depth"] = 1L,
                ["depth0"] = 0L,
                ["cycle"] = new JinjaFunction((args, _) => args.Count == 0
                    ? throw new InvalidOperationException("loop.cycle needs at least one value")
                    : args[index % args.Count]),
            };
            iteration.Set("loop", loopObject);
            Bind(loop.Targets, items[i], iteration);
            if (Execute(loop.Body, iteration) == Flow.Break) break;
        }
        return Flow.Normal;
    }

    private static void Bind(IReadOnlyList<string> targets, object? value, JinjaScope scope)
    {
        if (targets.Count == 1) { scope.Set(targets[0], value); return; }
        var parts = JinjaValues.Iterate(value).ToList();
        if (parts.Count != targets.Count)
            throw new InvalidOperationException($"cannot unpack {parts.Count} values into {targets.Count} names ({string.Join(", ", targets)})");
        for (var i = 0; i < targets.Count; i++) scope.Set(targets[i], parts[i]);
    }

    private void ExecuteSet(SetStatement set, JinjaScope scope)
    {
        object? value;
        if (set.Value is not null) value = Evaluate(set.Value, scope);
        else
        {
            var saved = _output;
            _output = new StringBuilder();
            try { Execute(set.Body, scope); value = _output.ToString(); }
            finally { _output = saved; }
        }
        if (set.Attribute is null) { Bind(set.Targets, value, scope); return; }
        if (!scope.TryGet(set.Targets[0], out var target) || target is not JinjaNamespace ns)
            throw new InvalidOperationException($"cannot assign attribute '{set.Attribute}' on '{set.Targets[0]}': only a namespace() takes attributes");
        ns.Attributes[set.Attribute] = value;
    }

    private JinjaFunction MakeMacro(MacroStatement macro, JinjaScope definingScope) => (args, keywords) =>
    {
        if (args.Count > macro.Parameters.Count)
            throw new InvalidOperationException($"macro '{macro.Name}' takes {macro.Parameters.Count} arguments, {args.Count} given");
        var call = new JinjaScope(definingScope);
        for (var i = 0; i < macro.Parameters.Count; i++)
        {
            var (name, fallback) = macro.Parameters[i];
            call.Set(name, i < args.Count ? args[i]
                : keywords.TryGetValue(name, out var given) ? given
                : fallback is not null ? Evaluate(fallback, definingScope)
                : new JinjaUndefined($"macro parameter '{name}'"));
        }
        var saved = _output;
        _output = new StringBuilder();
        try
        {
            Execute(macro.Body, call);
            return _output.ToString();
        }
        finally { _output = saved; }
    };

    public object? Evaluate(Expression expression, JinjaScope scope)
    {
        try
        {
            return EvaluateCore(expression, scope);
        }
        catch (JinjaException) { throw; }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException or OverflowException or DivideByZeroException)
        {
            throw JinjaException.At(expression.Line, e.Message);
        }
    }

    private object? EvaluateCore(Expression expression, JinjaScope scope)
    {
        switch (expression)
        {
            case LiteralExpression literal:
                return literal.Value;
            case NameExpression name:
                return scope.TryGet(name.Name, out var value) ? value : new JinjaUndefined($"'{name.Name}'");
            case ListExpression list:
                var values = list.Items.Select(item => Evaluate(item, scope));
                return list.IsTuple ? new JinjaTuple(values) : values.ToList();
            case DictExpression dict:
                var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, item) in dict.Items) result[JinjaValues.ToStr(Evaluate(key, scope))] = Evaluate(item, scope);
                return result;
            case AttributeExpression attribute:
                return JinjaBuiltins.GetAttribute(Evaluate(attribute.Target, scope), attribute.Name);
            case IndexExpression index:
                return JinjaBuiltins.GetItem(Evaluate(index.Target, scope), Evaluate(index.Index, scope));
            case SliceExpression slice:
                return JinjaBuiltins.Slice(Evaluate(slice.Target, scope),
                    EvaluateOptional(slice.Start, scope), EvaluateOptional(slice.Stop, scope), EvaluateOptional(slice.Step, scope));
            case CallExpression call:
                var callee = Evaluate(call.Callee, scope);
                if (callee is not JinjaFunction function)
                    throw new InvalidOperationException($"{Describe(call.Callee)} is {JinjaValues.TypeName(callee)}, not a function");
                return function(
                    call.Arguments.Select(a => Evaluate(a, scope)).ToList(),
                    call.Keywords.ToDictionary(k => k.Name, k => Evaluate(k.Value, scope)));
            case FilterExpression filter:
                return JinjaBuiltins.ApplyFilter(filter.Name, Evaluate(filter.Value, scope),
                    filter.Arguments.Select(a => Evaluate(a, scope)).ToList(),
                    filter.Keywords.ToDictionary(k => k.Name, k => Evaluate(k.Value, scope)));
            case TestExpression test:
                var outcome = JinjaBuiltins.ApplyTest(test.Name, Evaluate(test.Value, scope), test.Arguments.Select(a => Evaluate(a, scope)).ToList());
                return test.Negated ? !outcome : outcome;
            case UnaryExpression unary:
                var operand = Evaluate(unary.Operand, scope);
                return unary.Operator switch
                {
                    "not" => !JinjaValues.Truthy(operand),
                    "-" => operand switch
                    {
                        double d => (object)(-d),
                        _ when JinjaValues.IsNumber(operand) => -JinjaValues.ToLong(operand),
                        _ => throw new InvalidOperationException($"bad operand type for unary -: {JinjaValues.TypeName(operand)}"),
                    },
                    _ => JinjaValues.IsNumber(operand) ? operand is bool ? JinjaValues.ToLong(operand) : operand
                        : throw new InvalidOperationException($"bad operand type for unary +: {JinjaValues.TypeName(operand)}"),
                };
            case BinaryExpression { Operator: "and" } and:
                var left = Evaluate(and.Left, scope);
                return JinjaValues.Truthy(left) ? Evaluate(and.Right, scope) : left;
            case BinaryExpression { Operator: "or" } or:
                var first = Evaluate(or.Left, scope);
                return JinjaValues.Truthy(first) ? first : Evaluate(or.Right, scope);
            case BinaryExpression binary:
                return JinjaBuiltins.Arithmetic(binary.Operator, Evaluate(binary.Left, scope), Evaluate(binary.Right, scope));
            case CompareExpression compare:
                var current = Evaluate(compare.First, scope);
                foreach (var (op, operandExpression) in compare.Rest)
                {
                    var next = Evaluate(operandExpression, scope);
                    if (!JinjaBuiltins.Compare(op, current, next)) return false;
                    current = next;
                }
                return true;
            case ConditionalExpression conditional:
                return JinjaValues.Truthy(Evaluate(conditional.Condition, scope))
                    ? Evaluate(conditional.Then, scope)
                    : conditional.Else is null ? new JinjaUndefined("conditional without else") : Evaluate(conditional.Else, scope);
            default:
                throw new InvalidOperationException($"unknown expression {expression.GetType().Name}");
        }
    }

    private object? EvaluateOptional(Expression? expression, JinjaScope scope) => expression is null ? null : Evaluate(expression, scope);

    private static string Describe(Expression expression) => expression switch
    {
        NameExpression name => $"'{name.Name}'",
        AttributeExpression attribute => $"'{attribute.Name}'",
        _ => "the called value",
    };
}
