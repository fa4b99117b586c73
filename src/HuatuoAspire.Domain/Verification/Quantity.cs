using System.Globalization;
using System.Text.RegularExpressions;

namespace HuatuoAspire.Domain.Verification;

/// <summary>A number with an optional unit, converted to the base unit of its dimension for comparison.</summary>
public sealed record Quantity(double Value, string? Unit, string? Dimension, double BaseValue)
{
    public override string ToString() => Unit is null ? AnswerText.Invariant(Value) : $"{AnswerText.Invariant(Value)} {Unit}";
}

/// <summary>Finds quantities ("6 g/dL", "100°F", "7 days", "95%") in folded answer text.</summary>
public static partial class QuantityParser
{
    private sealed record UnitDefinition(string Dimension, double Factor, double Offset = 0);

    private static readonly Dictionary<string, UnitDefinition> Units = BuildUnits();

    private static Dictionary<string, UnitDefinition> BuildUnits()
    {
        var units = new Dictionary<string, UnitDefinition>(StringComparer.Ordinal);
        void Add(string dimension, double factor, params string[] names)
        {
            foreach (var name in names) units[name] = new UnitDefinition(dimension, factor);
        }
        Add("mass", 1e-9, "ng", "nanogram");
        Add("mass", 1e-6, "mcg", "ug", "microgram");
        Add("mass", 1e-3, "mg", "milligram");
        Add("mass", 1, "g", "gm", "gram");
        Add("mass", 1e3, "kg", "kilogram");
        Add("mass", 453.59237, "lb", "lbs", "pound");
        Add("mass", 28.349523, "oz", "ounce");
        Add("volume", 1e-6, "ul", "microliter", "microlitre");
        Add("volume", 1e-3, "ml", "milliliter", "millilitre", "cc");
        Add("volume", 0.1, "dl", "deciliter", "decilitre");
        Add("volume", 1, "l", "liter", "litre");
        Add("pressure", 1, "mmhg");
        Add("pressure", 0.73556, "cmh2o");
        Add("pressure", 7.50062, "kpa");
        Add("percent", 1, "%", "percent");
        Add("time", 1.0 / 86400, "s", "sec", "secs", "second");
        Add("time", 1.0 / 1440, "min", "mins", "minute");
        Add("time", 1.0 / 24, "h", "hr", "hrs", "hour");
        Add("time", 1, "day", "d");
        Add("time", 7, "week", "wk", "wks");
        Add("time", 30.4375, "month", "mo");
        Add("time", 365.25, "year", "yr", "yrs");
        Add("length", 1e-6, "um", "micrometer", "micron");
        Add("length", 1e-3, "mm", "millimeter", "millimetre");
        Add("length", 1e-2, "cm", "centimeter", "centimetre");
        Add("length", 1, "m", "meter", "metre");
        Add("amount", 1e-3, "mmol", "millimole");
        Add("amount", 1, "mol", "mole");
        Add("equivalents", 1e-3, "meq");
        Add("equivalents", 1, "eq");
        Add("units", 1, "iu", "unit", "u");
        Add("angle", 1, "°", "degree", "deg");
        Add("rate", 1, "bpm");
        units["°c"] = new UnitDefinition("temperature", 1);
        units["°f"] = new UnitDefinition("temperature", 5.0 / 9, -160.0 / 9);
        return units;
    }

    /// <summary>Quantities in the text and the text with their numbers and recognised units removed.</summary>
    public static (List<Quantity> Quantities, string Remainder) Extract(string foldedText)
    {
        var quantities = new List<Quantity>();
        var remainder = QuantityRegex().Replace(foldedText, match =>
        {
            var value = double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            var unitText = match.Groups["unit"].Success ? match.Groups["unit"].Value.Replace(" ", "") : null;
            if (unitText is not null && TryResolve(unitText, out var definition, out var canonicalUnit))
            {
                quantities.Add(new Quantity(value, canonicalUnit, definition.Dimension, value * definition.Factor + definition.Offset));
                return " ";
            }
            quantities.Add(new Quantity(value, null, null, value));
            return unitText is null ? " " : " " + match.Groups["unit"].Value + " ";
        });
        return (quantities, remainder);
    }

    private static bool TryResolve(string unit, out UnitDefinition definition, out string canonical)
    {
        canonical = unit;
        if (Lookup(unit, out definition)) return true;
        var slash = unit.IndexOf('/');
        if (slash >= 0)
        {
            var numerator = unit[..slash];
            var denominator = unit[(slash + 1)..];
            UnitDefinition? num = numerator.Length == 0 ? new UnitDefinition("count", 1)
                : Lookup(numerator, out var found) ? found : null;
            if (num is not null && Lookup(denominator, out var den))
            {
                definition = new UnitDefinition($"{num.Dimension}/{den.Dimension}", num.Factor / den.Factor);
                return true;
            }
        }
        definition = new UnitDefinition("none", 1);
        return false;
    }

    private static bool Lookup(string unit, out UnitDefinition definition)
    {
        if (Units.TryGetValue(unit, out definition!)) return true;
        var singular = AnswerText.Singular(unit);
        return Units.TryGetValue(singular, out definition!);
    }

    public static bool Matches(Quantity expected, Quantity actual, double relativeTolerance)
    {
        // A unit on one side only is forgiven (a bare "7" against "7 days"); different dimensions never match.
        if (expected.Dimension is not null && actual.Dimension is not null)
        {
            if (expected.Dimension != actual.Dimension) return false;
            return Close(expected.BaseValue, actual.BaseValue, relativeTolerance);
        }
        return Close(expected.Value, actual.Value, relativeTolerance);
    }

    private static bool Close(double a, double b, double relativeTolerance) =>
        Math.Abs(a - b) <= relativeTolerance * Math.Max(Math.Abs(a), Math.Abs(b)) + 1e-12;

    [GeneratedRegex(@"(?<![\p{L}\p{N}._])(?<value>-?\d+(?:\.\d+)?)(?![\d_])(?:\s?(?<unit>°\s?[cf]\b|°|%|/[a-z]+(?:\^\d)?\b|[a-z][a-z0-9]*(?:\^\d)?(?:/[a-z]+(?:\^\d)?)?\b))?")]
    private static partial Regex QuantityRegex();
}
