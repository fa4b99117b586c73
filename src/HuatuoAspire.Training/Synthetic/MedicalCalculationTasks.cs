using System.Globalization;

namespace HuatuoAspire.Training.Synthetic;

/// <summary>One synthetic problem: a question, its worked solution in two parts, and the one numeric ground truth.</summary>
public sealed record MedicalCalculationProblem(string Kind, string Question, string Thinking, string FinalResponse, string GroundTruth, double Value)
{
    /// <summary>
    /// A worked solution with a classic wrong step (correct arithmetic, wrong answer) where the kind has one, e.g. the
    /// ten-fold unit error 1 g = 100 mg; null otherwise.
    /// </summary>
    public (string Thinking, string FinalResponse)? FlawedSolution { get; init; }

    /// <summary>True when <see cref="Thinking"/> and <see cref="FinalResponse"/> are the flawed solution (the ground truth stays right).</summary>
    public bool IsFlawed { get; init; }
}

/// <summary>
/// A verifiable medical-calculation task for showing that SFT and PPO learn on CPU: weight-based dosing, BMI,
/// infusion rates, drip rates, unit conversions and Cockcroft-Gault creatinine clearance. Every problem has one
/// numeric answer and a short worked solution; the same seed always gives the same problems.
/// </summary>
public static class MedicalCalculationTasks
{
    public static readonly IReadOnlyList<string> Kinds = ["dose", "bmi", "infusion", "drip", "convert", "crcl"];

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>
    /// Train and held-out splits drawn from one seeded stream; no held-out question text appears in the training split.
    /// </summary>
    public static (IReadOnlyList<MedicalCalculationProblem> Train, IReadOnlyList<MedicalCalculationProblem> HeldOut) Splits(
        int trainCount, int heldOutCount, int seed = 1234, IReadOnlyList<string>? kinds = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trainCount);
        ArgumentOutOfRangeException.ThrowIfNegative(heldOutCount);
        var random = new Random(seed);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var heldOut = Draw(random, heldOutCount, seen, kinds ?? Kinds);
        var train = Draw(random, trainCount, seen, kinds ?? Kinds);
        return (train, heldOut);
    }

    /// <summary>
    /// Replaces the worked solution of about <paramref name="fraction"/> of the problems that have a flawed variant with
    /// it, the way unverified reasoning paths carry wrong steps into SFT data; ground truths stay right, so a verifier
    /// still tells the two apart. The same seed picks the same problems.
    /// </summary>
    public static IReadOnlyList<MedicalCalculationProblem> WithFlawedSolutions(IReadOnlyList<MedicalCalculationProblem> problems, double fraction, int seed)
    {
        if (!(fraction is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "the flawed fraction must lie in [0, 1].");
        var random = new Random(seed);
        return problems.Select(p => p.FlawedSolution is { } flawed && random.NextDouble() < fraction
            ? p with { Thinking = flawed.Thinking, FinalResponse = flawed.FinalResponse, FlawedSolution = null, IsFlawed = true }
            : p).ToList();
    }

    private static List<MedicalCalculationProblem> Draw(Random random, int count, HashSet<string> seen, IReadOnlyList<string> kinds)
    {
        var result = new List<MedicalCalculationProblem>(count);
        var attempts = 0;
        while (result.Count < count)
        {
            if (++attempts > count * 200 + 1000)
                throw new InvalidOperationException($"Only {result.Count} distinct problems could be drawn; ask for fewer than {count}.");
            var problem = Create(kinds[random.Next(kinds.Count)], random);
            if (seen.Add(problem.Question)) result.Add(problem);
        }
        return result;
    }

    public static MedicalCalculationProblem Create(string kind, Random random) => kind switch
    {
        "dose" => Dose(random),
        "bmi" => Bmi(random),
        "infusion" => Infusion(random),
        "drip" => Drip(random),
        "convert" => Convert(random),
        "crcl" => CreatinineClearance(random),
        _ => throw new ArgumentException($"Unknown task kind '{kind}' (known: {string.Join(", ", Kinds)}).", nameof(kind)),
    };

    private static MedicalCalculationProblem Dose(Random r)
    {
        var perKg = new[] { 1, 2, 3, 4, 5, 10, 15, 20, 25 }[r.Next(9)];
        var weight = 3 + r.Next(148);
        var total = perKg * weight;
        return Make("dose", $"A child weighing {weight} kg needs {perKg} mg/kg of a drug. What is the dose in mg?",
            $"Dose = {perKg} mg/kg x {weight} kg = {total} mg.", total, "mg");
    }

    private static MedicalCalculationProblem Bmi(Random r)
    {
        var weight = 40 + r.Next(81);
        var height = 1.5 + 0.05 * r.Next(11);
        height = Math.Round(height, 2);
        var square = Math.Round(height * height, 2);
        var bmi = Math.Round(weight / square, 1);
        return Make("bmi", $"A patient weighs {weight} kg and is {F(height)} m tall. What is the BMI in kg/m2?",
            $"BMI = weight / height^2 = {weight} / {F(square)} = {F(bmi)} kg/m2.", bmi, "kg/m2");
    }

    private static MedicalCalculationProblem Infusion(Random r)
    {
        var volume = new[] { 100, 250, 500, 750, 1000, 1500, 2000, 3000 }[r.Next(8)];
        var hours = new[] { 1, 2, 3, 4, 5, 6, 8, 10, 12, 24 }[r.Next(10)];
        var rate = Math.Round((double)volume / hours, 1);
        return Make("infusion", $"Infuse {volume} mL of saline over {hours} hours. What is the rate in mL/h?",
            $"Rate = volume / time = {volume} mL / {hours} h = {F(rate)} mL/h.", rate, "mL/h");
    }

    private static MedicalCalculationProblem Drip(Random r)
    {
        var volume = new[] { 100, 250, 500, 1000 }[r.Next(4)];
        var factor = new[] { 10, 15, 20, 60 }[r.Next(4)];
        var minutes = new[] { 15, 20, 30, 45, 60, 90, 120, 180, 240 }[r.Next(9)];
        var drops = Math.Round((double)volume * factor / minutes);
        return Make("drip", $"Give {volume} mL over {minutes} minutes with a {factor} gtt/mL set. How many drops per minute?",
            $"Drops/min = {volume} mL x {factor} gtt/mL / {minutes} min = {F(drops)} gtt/min.", drops, "gtt/min");
    }

    private static MedicalCalculationProblem Convert(Random r)
    {
        var tenths = 1 + r.Next(1999);
        var grams = tenths / 10.0;
        var mg = tenths * 100;
        // The flawed variant is the ten-fold error of taking 1 g for 100 mg.
        return r.Next(2) == 0
            ? Make("convert", $"Convert {F(grams)} g to mg.", $"1 g = 1000 mg, so {F(grams)} g = {F(grams)} x 1000 = {mg} mg.", mg, "mg") with
            {
                FlawedSolution = ($"1 g = 100 mg, so {F(grams)} g = {F(grams)} x 100 = {F(tenths * 10)} mg.", $"The answer is {F(tenths * 10)} mg."),
            }
            : Make("convert", $"Convert {mg} mg to g.", $"1 mg = 0.001 g, so {mg} mg = {mg} / 1000 = {F(grams)} g.", grams, "g") with
            {
                FlawedSolution = ($"1 mg = 0.01 g, so {mg} mg = {mg} / 100 = {F(tenths)} g.", $"The answer is {F(tenths)} g."),
            };
    }

    private static MedicalCalculationProblem CreatinineClearance(Random r)
    {
        var age = 20 + r.Next(71);
        var weight = 40 + 5 * r.Next(13);
        var creatinine = new[] { 0.8, 1.0, 1.2, 1.5, 2.0 }[r.Next(5)];
        var numerator = (140 - age) * weight;
        var denominator = Math.Round(72 * creatinine, 1);
        var clearance = Math.Round(numerator / denominator, 1);
        return Make("crcl",
            $"A man aged {age} years weighs {weight} kg with serum creatinine {F(creatinine)} mg/dL. What is his creatinine clearance in mL/min (Cockcroft-Gault)?",
            $"CrCl = (140 - age) x weight / (72 x Cr) = {140 - age} x {weight} / {F(denominator)} = {numerator} / {F(denominator)} = {F(clearance)} mL/min.",
            clearance, "mL/min");
    }

    private static MedicalCalculationProblem Make(string kind, string question, string thinking, double value, string unit)
    {
        var answer = $"{F(value)} {unit}";
        return new MedicalCalculationProblem(kind, question, thinking, $"The answer is {answer}.", answer, value);
    }

    private static string F(double value) => value.ToString("0.##", Invariant);
}
