using System.Text.RegularExpressions;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>Reading the dashboard's server-rendered HTML as a browser would submit it: tokens, rows, cells, links.</summary>
public static partial class DashboardHtml
{
    /// <summary>The antiforgery token of the page's forms.</summary>
    public static string AntiforgeryToken(string page) => AntiforgeryField().Match(page).Groups[1].Value;

    /// <summary>From the element with this id to the next <paramref name="end"/> (a table row by default).</summary>
    public static string Row(string html, string id, string end = "</tr>")
    {
        var start = html.IndexOf($"id=\"{id}\"", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no element {id}");
        return html[start..html.IndexOf(end, start, StringComparison.Ordinal)];
    }

    /// <summary>The text of each cell of a row, tags removed.</summary>
    public static string[] Cells(string row) =>
        CellPattern().Matches(row).Select(m => TagPattern().Replace(m.Groups[1].Value, "").Trim()).ToArray();

    /// <summary>The id in a form's answer "Started: &lt;a href="/PATH/ID"…", e.g. <c>StartedId(answer, "training")</c>.</summary>
    public static long StartedId(string answer, string path)
    {
        var match = Regex.Match(answer, $"Started: <a href=\"/{Regex.Escape(path)}/(\\d+)\"");
        Assert.True(match.Success, $"no 'Started: /{path}/…' link in: {answer}");
        return long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    [GeneratedRegex("<td[^>]*>(.*?)</td>", RegexOptions.Singleline)]
    private static partial Regex CellPattern();

    [GeneratedRegex("<[^>]+>")]
    private static partial Regex TagPattern();
}
