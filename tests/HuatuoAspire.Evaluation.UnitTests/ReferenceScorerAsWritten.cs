using System.Text.RegularExpressions;
using HuatuoAspire.Evaluation;

namespace HuatuoAspire.Evaluation.UnitTests;

/// <summary>
/// The HuatuoGPT-o1 scorer (evaluation/eval.py's postprocessing and dropping of empty outputs, scorer.py's
/// match_choice and score) written out line by line, independently of <see cref="ReferenceScorer"/>, to check it.
/// Only difflib's ratio is shared (<see cref="SequenceSimilarity"/>, checked against Python's values elsewhere).
/// </summary>
public static class ReferenceScorerAsWritten
{
    public sealed record Figure(int Counted, double Accuracy);

    public static Dictionary<string, Figure> Score(IEnumerable<(string Source, string Output, List<KeyValuePair<string, string>> Options, string AnswerIdx)> data)
    {
        // res[source] = [score, head hits, count, tail hits]
        var res = new Dictionary<string, int[]>();
        foreach (var (source, raw, options, answerIdx) in data)
        {
            var pred = raw.Replace("</s>", "", StringComparison.Ordinal);
            if (pred.Length > 0 && pred[0] == ' ') pred = pred.Substring(1);
            if (pred.Length == 0) continue; // eval.py: `if len(pred) == 0: continue`

            if (!res.ContainsKey(source)) res[source] = new int[4];
            var ans = MatchChoice(pred, options);
            if (ans[0].ToLowerInvariant() == answerIdx.ToLowerInvariant()) res[source][1] += 1;
            if (ans[1].ToLowerInvariant() == answerIdx.ToLowerInvariant()) res[source][3] += 1;
            res[source][2] += 1;
        }

        var figures = new Dictionary<string, Figure>();
        foreach (var k in res.Keys)
        {
            var head = (double)res[k][1] / res[k][2];
            var tail = (double)res[k][3] / res[k][2];
            figures[k] = new Figure(res[k][2], head > tail ? head : tail);
        }

        return figures;
    }

    private static string[] MatchChoice(string text, List<KeyValuePair<string, string>> options)
    {
        if (text.Contains("## Final Response\n\n", StringComparison.Ordinal))
        {
            var parts = text.Split("## Final Response\n\n");
            text = parts[parts.Length - 1];
        }

        var matches = Regex.Matches(text, "(answer is\\s*?)([A-N])", RegexOptions.Singleline);
        if (matches.Count > 0) return [matches[0].Groups[2].Value, matches[matches.Count - 1].Groups[2].Value];

        var matchOptions = "ABCDEFGHIJKLMN".Substring(0, Math.Min(14, options.Count));
        matches = Regex.Matches(text, "([\\u4e00-\\u9fff]|is |是|项|\\*|\\W|\\ |\\(|为|^|'|\\\"|#)(?![aA] )([" + matchOptions + "])(\\W|[\\u4e00-\\u9fff]|$)", RegexOptions.Singleline);
        if (matches.Count > 0) return [matches[0].Groups[2].Value, matches[matches.Count - 1].Groups[2].Value];

        text = text.ToLowerInvariant();
        var opsIndex = new List<(string Opt, int At)>();
        foreach (var (opt, value) in options)
        {
            if (text.Contains(value.ToLowerInvariant(), StringComparison.Ordinal)) opsIndex.Add((opt, value.Length == 0 ? text.Length : text.LastIndexOf(value.ToLowerInvariant(), StringComparison.Ordinal)));
        }

        if (opsIndex.Count > 0)
        {
            // Python's sorted(reverse=True) is stable: among equal positions the earlier option stays first.
            var ansLast = opsIndex.Select((x, i) => (x, i)).OrderByDescending(t => t.x.At).ThenBy(t => t.i).First().x.Opt;
            var firsts = options.Where(o => text.Contains(o.Value.ToLowerInvariant(), StringComparison.Ordinal))
                .Select((o, i) => (o.Key, At: text.IndexOf(o.Value.ToLowerInvariant(), StringComparison.Ordinal), i)).ToList();
            var ansFirst = firsts.OrderByDescending(t => t.At).ThenBy(t => t.i).First().Key;
            return [ansFirst, ansLast];
        }

        var highest = 0.0;
        var index = -1;
        for (var i = 0; i < options.Count; i++)
        {
            var similarity = SequenceSimilarity.Ratio(options[i].Value.ToLowerInvariant(), text.ToLowerInvariant());
            if (similarity >= highest)
            {
                index = i;
                highest = similarity;
            }
        }

        return [options[index].Key, options[index].Key];
    }
}
