using System.Globalization;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>A page number from the address bar: any text is read as one (null when none is given or it is not a number).</summary>
public static class PageNumbers
{
    public static int? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var page)) return page;
        // Beyond int: the far end of the range (then clamped to the last page by the page).
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var big) ? (big > 0 ? int.MaxValue : int.MinValue) : null;
    }
}
