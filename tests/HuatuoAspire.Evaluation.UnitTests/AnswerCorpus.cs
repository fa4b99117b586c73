using System.Globalization;

namespace HuatuoAspire.Evaluation.UnitTests;

/// <summary>One scripted answer: the style it is written in, the letter a person reads in it (null for garbage) and the text.</summary>
public sealed record CorpusAnswer(BenchmarkQuestion Question, string Style, string? IntendedLetter, string Output)
{
    public bool IntendedCorrect => IntendedLetter == Question.AnswerIdx;
}

/// <summary>
/// A varied, seeded corpus of multiple-choice questions answered in realistic styles, each with the letter a person
/// reads in it: the ground truth the extractor is measured against. Styles are written as models and people write,
/// not as the extractor reads: discussed letters, lowercase letters, option text, refusals and gibberish.
/// </summary>
public static class AnswerCorpus
{
    /// <summary>Option texts that do not contain one another, so an option named in prose is unambiguous.</summary>
    private static readonly string[] OptionTexts =
    [
        "Propranolol", "Warfarin", "Metformin", "Lisinopril", "Ceftriaxone", "Vancomycin", "Methotrexate", "Prednisone",
        "Levothyroxine", "Furosemide", "Haloperidol", "Amiodarone", "Alteplase", "Insulin glargine", "Doxycycline",
        "Acute pancreatitis", "Aortic dissection", "Pulmonary embolism", "Myasthenia gravis", "Guillain-Barre syndrome",
        "Iron deficiency anemia", "Vitamin B12 deficiency", "Hypothyroidism", "Sarcoidosis", "Tension pneumothorax",
        "Emergency laparotomy", "Colonoscopy", "Lumbar puncture", "Echocardiography", "Observation and reassurance",
        "Increased gastrin secretion", "Decreased somatostatin release", "Elevated serum calcium", "Low serum ferritin",
        "Renal artery stenosis", "Addison disease", "Cushing syndrome", "Pheochromocytoma", "Kawasaki disease",
        "Hodgkin lymphoma",
    ];

    private static readonly string[] Findings =
    [
        "fatigue and pallor", "crushing chest pain radiating to the back", "fever and neck stiffness", "weight gain and cold intolerance",
        "sudden dyspnea after a long flight", "ptosis that worsens in the evening", "ascending weakness after diarrhea",
        "epigastric pain radiating to the back", "episodic headache with sweating and palpitations", "bilateral hilar lymphadenopathy",
    ];

    private static readonly string[] GibberishWords =
    [
        "lorem", "vaso", "ipsum", "cardio", "the", "of", "zzq", "plinth", "murmur", "ortho", "blip", "quanta", "renal",
        "tiff", "nodal", "sprocket", "hepato", "gly", "xylo", "fluff", "and", "in", "onco", "wug", "pneumo", "trill",
    ];

    public const string Garbage = "refusal/gibberish/truncated";

    /// <summary>The answer styles: name, whether it carries a letter, and how to write an answer for a letter (null: garbage).</summary>
    public static readonly IReadOnlyList<(string Name, Func<Random, BenchmarkQuestion, string?, string> Write)> Styles =
    [
        ("reference format (## Final Response, discussed letters in the thinking)", (rng, q, x) =>
            $"## Thinking\n\nAt first glance the answer is {Other(rng, q, x!)}, because {Text(q, Other(rng, q, x!))} is common. " +
            $"But option {Other(rng, q, x!)} does not explain the findings either.\n\n## Final Response\n\nThe answer is {x}."),
        ("lowercase 'answer: c'", (rng, q, x) => rng.Next(2) == 0
            ? $"Answer: {x!.ToLowerInvariant()}"
            : $"answer: {x!.ToLowerInvariant()}\nExplanation: {Text(q, x!)} addresses the underlying cause."),
        ("'I would choose B because … D cells'", (rng, q, x) =>
            $"I would choose {x} because increased activity of {Other(rng, q, x!)} cells explains the {Finding(rng)}, and option {Other(rng, q, x!)} does not."),
        ("bold letter '**C**'", (rng, q, x) => rng.Next(2) == 0
            ? $"Weighing the {Finding(rng)} against each option, the best fit is **{x}**."
            : $"**{x}. {Text(q, x!)}**\n\nThe other options are less consistent with the presentation."),
        ("parenthesised '(C)'", (rng, q, x) => rng.Next(2) == 0
            ? $"Correct option: ({x}) {Text(q, x!)}"
            : $"({x}) — {Text(q, x!)} best explains {Finding(rng)}."),
        ("lowercase 'option d'", (rng, q, x) =>
            $"I'd go with option {x!.ToLowerInvariant()}; {Text(q, x!)} fits a patient with {Finding(rng)}."),
        ("option text only", (rng, q, x) => rng.Next(2) == 0
            ? $"The most likely answer here is {Text(q, x!).ToLowerInvariant()}, given the {Finding(rng)}."
            : $"{Text(q, x!)}."),
        ("'C. option text' then a rationale", (rng, q, x) =>
            $"{x}. {Text(q, x!)}\n\nRationale: this is the classic presentation; {Text(q, Other(rng, q, x!)).ToLowerInvariant()} would look different."),
        ("options discussed, then 'the correct answer is'", (rng, q, x) =>
            string.Join("\n", q.Options.Select(o => $"- {o.Key}: {o.Value} — {(o.Key == x ? "consistent" : "unlikely")}.")) +
            $"\n\nTherefore, the correct answer is {x}."),
        ("JSON '{\"answer\": \"b\"}'", (rng, q, x) =>
            $"{{\"answer\": \"{(rng.Next(2) == 0 ? x : x!.ToLowerInvariant())}\", \"explanation\": \"{Text(q, x!)} is first-line here.\"}}"),
        ("'Final answer' heading", (rng, q, x) =>
            $"Considering the {Finding(rng)}, several options remain.\n\n### Final answer\n{x}) {Text(q, x!)}"),
        (Garbage, (rng, q, _) => rng.Next(3) switch
        {
            0 => rng.Next(2) == 0
                ? "I'm sorry, but I can't help with that. Please consult a qualified healthcare professional."
                : "As an AI language model, I cannot provide a diagnosis or choose a treatment for a patient.",
            1 => string.Join(' ', Enumerable.Range(0, 8 + rng.Next(20)).Select(_ => GibberishWords[rng.Next(GibberishWords.Length)])) + ".",
            _ => $"## Thinking\n\nThe patient presents with {Finding(rng)} and the differential includes",
        }),
    ];

    /// <summary><paramref name="perStyle"/> answers in each style, each to its own question; the intended letter is right 60 % of the time.</summary>
    public static IReadOnlyList<CorpusAnswer> Build(int perStyle, int seed = 20261204)
    {
        var rng = new Random(seed);
        var answers = new List<CorpusAnswer>();
        var index = 0;
        foreach (var (name, write) in Styles)
        {
            for (var i = 0; i < perStyle; i++)
            {
                var question = Question(rng, "Corpus", index++);
                string? letter = null;
                if (name != Garbage)
                {
                    letter = rng.NextDouble() < 0.6 ? question.AnswerIdx : Other(rng, question, question.AnswerIdx);
                }

                answers.Add(new CorpusAnswer(question, name, letter, write(rng, question, letter)));
            }
        }

        return answers;
    }

    /// <summary>A question with 4 or 5 distinct options and a random correct letter.</summary>
    public static BenchmarkQuestion Question(Random rng, string benchmark, int index, int? optionCount = null)
    {
        var count = optionCount ?? 4 + rng.Next(2);
        var texts = OptionTexts.OrderBy(_ => rng.Next()).Take(count).ToList();
        var options = texts.Select((t, i) => new KeyValuePair<string, string>(((char)('A' + i)).ToString(), t)).ToList();
        var answer = options[rng.Next(count)].Key;
        var age = 20 + rng.Next(60);
        var text = string.Create(CultureInfo.InvariantCulture,
            $"Question {index}: a {age}-year-old presents with {Finding(rng)}. Which of the following is the most appropriate answer?");
        return new BenchmarkQuestion(benchmark, index, text, options, answer, options.Single(o => o.Key == answer).Value);
    }

    private static string Finding(Random rng) => Findings[rng.Next(Findings.Length)];

    private static string Text(BenchmarkQuestion q, string letter) => q.Options.Single(o => o.Key == letter).Value;

    private static string Other(Random rng, BenchmarkQuestion q, string letter)
    {
        var others = q.Options.Where(o => o.Key != letter).ToList();
        return others[rng.Next(others.Count)].Key;
    }
}
