using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace HuatuoAspire.Domain.Verification;

/// <summary>
/// Text normalisation for answer matching: Unicode folding, lower case, punctuation, articles and filler words,
/// plural forms, number words and Greek letters. The same steps run on both sides of a comparison.
/// </summary>
public static partial class AnswerText
{
    private static readonly Dictionary<char, string> CharacterFolds = new()
    {
        ['\u2010'] = "-", ['\u2011'] = "-", ['\u2012'] = "-", ['\u2013'] = "-", ['\u2014'] = "-", ['\u2015'] = "-",
        ['\u2212'] = "-", ['\u2018'] = "'", ['\u2019'] = "'", ['\u201B'] = "'", ['\u2032'] = "'", ['\u201C'] = "\"",
        ['\u201D'] = "\"", ['\u00AB'] = "\"", ['\u00BB'] = "\"", ['\u00A0'] = " ", ['\u2009'] = " ", ['\u202F'] = " ",
        ['α'] = " alpha ", ['β'] = " beta ", ['γ'] = " gamma ", ['δ'] = " delta ", ['κ'] = " kappa ", ['λ'] = " lambda ",
        ['μ'] = "u", ['µ'] = "u", ['ω'] = " omega ", ['ε'] = " epsilon ", ['θ'] = " theta ",
    };

    /// <summary>Articles, copulas and the words models use to frame an answer; none of them carries the answer.</summary>
    private static readonly HashSet<string> FillerWords = new(StringComparer.Ordinal)
    {
        "a", "an", "the", "of", "and", "or", "in", "on", "at", "to", "for", "with", "by", "from", "as", "is", "are",
        "was", "were", "be", "been", "being", "this", "that", "these", "those", "it", "its", "which", "who",
        "most", "likely", "probable", "probably", "answer", "final", "conclusion", "therefore", "thus", "so", "hence",
        "correct", "diagnosis", "option", "choice", "would", "should", "could", "will", "best", "due", "here",
        "patient", "patients", "case", "condition", "finding", "result", "results", "consistent", "i", "we",
        "think", "believe", "based", "given", "type", "form", "also", "very", "there",
    };

    /// <summary>Words that turn an answer into its opposite when they precede it.</summary>
    public static readonly IReadOnlySet<string> NegationWords = new HashSet<string>(StringComparer.Ordinal)
    {
        "not", "no", "without", "unlikely", "excluding", "except", "rather", "never", "neither", "nor", "absent", "absence",
    };

    /// <summary>Pairs of words that contradict each other; a response that uses one where the reference has the other is wrong.</summary>
    private static readonly Dictionary<string, string> Opposites = BuildOpposites(
        ("left", "right"), ("medial", "lateral"), ("anterior", "posterior"), ("superior", "inferior"),
        ("proximal", "distal"), ("increased", "decreased"), ("increase", "decrease"), ("elevated", "reduced"),
        ("elevated", "decreased"), ("high", "low"), ("positive", "negative"), ("acute", "chronic"),
        ("benign", "malignant"), ("upper", "lower"), ("internal", "external"), ("dorsal", "ventral"),
        ("afferent", "efferent"), ("ipsilateral", "contralateral"), ("unilateral", "bilateral"),
        ("central", "peripheral"), ("systolic", "diastolic"), ("arterial", "venous"), ("artery", "vein"),
        ("maxillary", "mandibular"), ("primary", "secondary"), ("sensitive", "resistant"), ("male", "female"),
        ("hypertrophy", "atrophy"), ("excess", "deficiency"), ("early", "late"), ("first", "last"));

    private static Dictionary<string, string> BuildOpposites(params (string A, string B)[] pairs)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (a, b) in pairs)
        {
            map.TryAdd(a, b);
            map.TryAdd(b, a);
        }
        return map;
    }

    /// <summary>The word that contradicts <paramref name="word"/> ("left" for "right"), if there is one.</summary>
    public static string? OppositeOf(string word) => Opposites.GetValueOrDefault(word);

    private static readonly Dictionary<string, string> NumberWords = new(StringComparer.Ordinal)
    {
        ["zero"] = "0", ["one"] = "1", ["two"] = "2", ["three"] = "3", ["four"] = "4", ["five"] = "5", ["six"] = "6",
        ["seven"] = "7", ["eight"] = "8", ["nine"] = "9", ["ten"] = "10", ["eleven"] = "11", ["twelve"] = "12",
        ["first"] = "1st", ["second"] = "2nd", ["third"] = "3rd", ["fourth"] = "4th",
        ["ii"] = "2", ["iii"] = "3",
    };

    private static readonly HashSet<string> PluralExceptions = new(StringComparer.Ordinal)
    {
        "diabetes", "herpes", "pes", "series", "species", "rabies", "scabies", "caries", "facies", "mumps", "measles",
        "lens", "pelvis", "physis", "stasis", "gas", "bias", "plus", "minus", "always", "various", "perhaps",
    };

    /// <summary>Unicode and punctuation folding, lower case; keeps digits, '%', '/', '.' inside numbers and '°'.</summary>
    public static string Fold(string text)
    {
        var builder = new StringBuilder(text.Length + 8);
        foreach (var c in text.Normalize(NormalizationForm.FormKC))
        {
            if (CharacterFolds.TryGetValue(c, out var replacement)) builder.Append(replacement);
            else builder.Append(char.ToLowerInvariant(c));
        }
        var folded = builder.ToString();
        folded = PossessiveRegex().Replace(folded, "");
        folded = DecimalPointRegex().Replace(folded, "$1\u0001$2"); // protect decimal points from punctuation removal
        folded = ThousandsRegex().Replace(folded, "$1$2");
        folded = PunctuationRegex().Replace(folded, " ");
        folded = folded.Replace('\u0001', '.');
        return WhitespaceRegex().Replace(folded, " ").Trim();
    }

    /// <summary>Words of the folded text with number words as digits and plural forms folded to the singular.</summary>
    public static List<string> Words(string text)
    {
        var words = new List<string>();
        foreach (var raw in Fold(text).Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var word = NumberWords.TryGetValue(raw, out var digits) ? digits : Singular(raw);
            words.Add(word);
        }
        return words;
    }

    /// <summary>Words without filler; what a token-set comparison should look at.</summary>
    public static List<string> ContentWords(IEnumerable<string> words) =>
        words.Where(w => !FillerWords.Contains(w)).ToList();

    public static string Singular(string word)
    {
        if (word.Length <= 3 || PluralExceptions.Contains(word) || !char.IsLetter(word[^1])) return word;
        if (word.EndsWith("ies", StringComparison.Ordinal) && word.Length > 4) return word[..^3] + "y";
        if (word.EndsWith("sses", StringComparison.Ordinal) || word.EndsWith("shes", StringComparison.Ordinal) ||
            word.EndsWith("ches", StringComparison.Ordinal) || word.EndsWith("xes", StringComparison.Ordinal))
            return word[..^2];
        if (word.EndsWith('s') && !word.EndsWith("ss", StringComparison.Ordinal) && !word.EndsWith("us", StringComparison.Ordinal) &&
            !word.EndsWith("is", StringComparison.Ordinal) && !word.EndsWith("ous", StringComparison.Ordinal))
            return word[..^1];
        return word;
    }

    /// <summary>Optimal-string-alignment distance, used to forgive one typo in long words ("aeroginosa").</summary>
    public static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }

    public static string Invariant(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"'s\b")]
    private static partial Regex PossessiveRegex();

    [GeneratedRegex(@"(\d)\.(\d)")]
    private static partial Regex DecimalPointRegex();

    [GeneratedRegex(@"(\d),(\d{3})\b")]
    private static partial Regex ThousandsRegex();

    [GeneratedRegex(@"[^\p{L}\p{N}%/°\u0001+\^_ ]")]
    private static partial Regex PunctuationRegex();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhitespaceRegex();
}
