using System.Text;

namespace HuatuoAspire.Evaluation;

/// <summary>
/// Python's <c>difflib.SequenceMatcher(None, a, b).ratio()</c> over Unicode code points, including its "autojunk"
/// rule (when b has 200+ elements, elements occurring more than 1% + 1 times cannot start a match), because the
/// reference scorer's last-resort option match depends on exactly that number.
/// </summary>
public static class SequenceSimilarity
{
    public static double Ratio(string a, string b)
    {
        var x = CodePoints(a);
        var y = CodePoints(b);
        if (x.Length + y.Length == 0) return 1.0;
        return 2.0 * MatchingCharacters(x, y) / (x.Length + y.Length);
    }

    private static int[] CodePoints(string text) => text.EnumerateRunes().Select(r => r.Value).ToArray();

    private static int MatchingCharacters(int[] a, int[] b)
    {
        var b2j = new Dictionary<int, List<int>>();
        for (var j = 0; j < b.Length; j++)
        {
            if (!b2j.TryGetValue(b[j], out var list)) b2j[b[j]] = list = [];
            list.Add(j);
        }

        if (b.Length >= 200)
        {
            var limit = b.Length / 100 + 1;
            foreach (var popular in b2j.Where(kv => kv.Value.Count > limit).Select(kv => kv.Key).ToList()) b2j.Remove(popular);
        }

        var total = 0;
        var queue = new Stack<(int ALo, int AHi, int BLo, int BHi)>();
        queue.Push((0, a.Length, 0, b.Length));
        while (queue.Count > 0)
        {
            var (alo, ahi, blo, bhi) = queue.Pop();
            var (i, j, k) = LongestMatch(a, b, b2j, alo, ahi, blo, bhi);
            if (k == 0) continue;
            total += k;
            if (alo < i && blo < j) queue.Push((alo, i, blo, j));
            if (i + k < ahi && j + k < bhi) queue.Push((i + k, ahi, j + k, bhi));
        }

        return total;
    }

    private static (int I, int J, int K) LongestMatch(int[] a, int[] b, Dictionary<int, List<int>> b2j, int alo, int ahi, int blo, int bhi)
    {
        int besti = alo, bestj = blo, bestsize = 0;
        var j2len = new Dictionary<int, int>();
        for (var i = alo; i < ahi; i++)
        {
            var next = new Dictionary<int, int>();
            if (b2j.TryGetValue(a[i], out var positions))
            {
                foreach (var j in positions)
                {
                    if (j < blo) continue;
                    if (j >= bhi) break;
                    var k = next[j] = (j2len.TryGetValue(j - 1, out var previous) ? previous : 0) + 1;
                    if (k > bestsize) (besti, bestj, bestsize) = (i - k + 1, j - k + 1, k);
                }
            }

            j2len = next;
        }

        // Popular elements cannot start a match but do extend one (difflib's junk-free extension loops).
        while (besti > alo && bestj > blo && a[besti - 1] == b[bestj - 1]) (besti, bestj, bestsize) = (besti - 1, bestj - 1, bestsize + 1);
        while (besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] == b[bestj + bestsize]) bestsize++;
        return (besti, bestj, bestsize);
    }
}
