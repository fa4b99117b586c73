namespace HuatuoAspire.Domain.Verification;

/// <summary>
/// The curated abbreviation and synonym table (medical-synonyms.tsv, embedded). Every variant maps to one
/// canonical token so that "MI", "heart attack" and "myocardial infarction" compare equal.
/// </summary>
public sealed class MedicalTerminology
{
    private readonly Dictionary<string, string> _canonicalByPhrase = new(StringComparer.Ordinal);
    private readonly int _longestPhrase;

    public static MedicalTerminology Default { get; } = LoadEmbedded();

    public int GroupCount { get; }

    public MedicalTerminology(string table, string source)
    {
        var lineNumber = 0;
        foreach (var rawLine in table.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var columns = line.Split('\t');
            if (columns.Length != 2 || columns[0].Trim().Length == 0 || columns[1].Trim().Length == 0)
                throw new FormatException($"{source}:{lineNumber}: expected 'canonical<TAB>variant|variant', got '{line}'.");
            var canonicalWords = AnswerText.Words(columns[0]);
            var canonical = string.Join('_', canonicalWords);
            foreach (var phrase in columns[1].Split('|').Append(columns[0]))
            {
                var words = AnswerText.Words(phrase);
                if (words.Count == 0) throw new FormatException($"{source}:{lineNumber}: empty variant in '{line}'.");
                var key = string.Join(' ', words);
                if (_canonicalByPhrase.TryGetValue(key, out var existing) && existing != canonical)
                    throw new FormatException($"{source}:{lineNumber}: '{phrase}' already maps to '{existing}'.");
                _canonicalByPhrase[key] = canonical;
                _longestPhrase = Math.Max(_longestPhrase, words.Count);
            }
            GroupCount++;
        }
    }

    /// <summary>Replaces every known phrase (longest first) with its canonical token.</summary>
    public List<string> Canonicalize(IReadOnlyList<string> words)
    {
        var result = new List<string>(words.Count);
        var i = 0;
        while (i < words.Count)
        {
            var matched = false;
            for (var length = Math.Min(_longestPhrase, words.Count - i); length >= 1; length--)
            {
                var key = string.Join(' ', words.Skip(i).Take(length));
                if (_canonicalByPhrase.TryGetValue(key, out var canonical))
                {
                    result.Add(canonical);
                    i += length;
                    matched = true;
                    break;
                }
            }
            if (!matched) result.Add(words[i++]);
        }
        return result;
    }

    /// <summary>
    /// The text with one known term replaced by another name of the same concept (for building paraphrases), or
    /// null when the text contains no known term.
    /// </summary>
    public string? SwapOneTerm(string text, Random random)
    {
        var words = AnswerText.Words(text);
        var matches = new List<(int Start, int Length, string Canonical, string Phrase)>();
        for (var i = 0; i < words.Count; i++)
        {
            for (var length = Math.Min(_longestPhrase, words.Count - i); length >= 1; length--)
            {
                var key = string.Join(' ', words.Skip(i).Take(length));
                if (_canonicalByPhrase.TryGetValue(key, out var canonical))
                {
                    matches.Add((i, length, canonical, key));
                    break;
                }
            }
        }
        if (matches.Count == 0) return null;
        var chosen = matches[random.Next(matches.Count)];
        var alternatives = _canonicalByPhrase.Where(p => p.Value == chosen.Canonical && p.Key != chosen.Phrase).Select(p => p.Key).ToList();
        if (alternatives.Count == 0) return null;
        var replacement = alternatives[random.Next(alternatives.Count)];
        return string.Join(' ', words.Take(chosen.Start).Append(replacement.ToUpperInvariant().Length <= 5 ? replacement.ToUpperInvariant() : replacement)
            .Concat(words.Skip(chosen.Start + chosen.Length)));
    }

    private static MedicalTerminology LoadEmbedded()
    {
        const string name = "HuatuoAspire.Domain.Verification.medical-synonyms.tsv";
        using var stream = typeof(MedicalTerminology).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded resource {name} is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return new MedicalTerminology(reader.ReadToEnd(), "medical-synonyms.tsv");
    }
}
