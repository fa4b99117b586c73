namespace HuatuoAspire.Dashboard.Services;

/// <summary>
/// What an admin typed into a form, for the page that answers its post: the form is shown again with those values, so
/// an error (a refused path, a malformed number) loses nothing.
/// </summary>
public static class PostedForm
{
    /// <summary>The posted value of <paramref name="field"/> when this request posted the form named <paramref name="form"/>; else null.</summary>
    public static string? Value(HttpContext http, string form, string field) =>
        HttpMethods.IsPost(http.Request.Method) && http.Request.HasFormContentType && http.Request.Form["_handler"] == form
            ? http.Request.Form.TryGetValue(field, out var value) ? value.ToString() : ""
            : null;
}
