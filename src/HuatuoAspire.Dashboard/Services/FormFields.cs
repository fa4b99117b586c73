using System.Globalization;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>Typed reads of posted form fields; a malformed number is a clear error, an empty field is absent.</summary>
public static class FormFields
{
    public static string? Text(IFormCollection form, string name) =>
        form.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value.ToString()) ? value.ToString().Trim() : null;

    public static T? Number<T>(IFormCollection form, string name) where T : struct, IParsable<T> =>
        Text(form, name) is { } text
            ? T.TryParse(text, CultureInfo.InvariantCulture, out var value) ? value : throw new FormatException($"{name} must be a number, got '{text}'.")
            : null;

    /// <summary>A checkbox: present ("on", "true") when ticked, absent otherwise.</summary>
    public static bool Checked(IFormCollection form, string name) =>
        Text(form, name) is { } text && (text == "on" || text.StartsWith("true", StringComparison.OrdinalIgnoreCase));

    /// <summary>Every field but Blazor's own, with the uploaded files, as multipart content for an API.</summary>
    public static MultipartFormDataContent Multipart(IFormCollection form)
    {
        var content = new MultipartFormDataContent();
        foreach (var (name, value) in form)
        {
            if (name is "_handler" or "__RequestVerificationToken" || string.IsNullOrWhiteSpace(value.ToString())) continue;
            content.Add(new StringContent(value.ToString()), name);
        }
        foreach (var file in form.Files)
        {
            if (file.Length == 0) continue;
            content.Add(new StreamContent(file.OpenReadStream()), file.Name, file.FileName);
        }
        return content;
    }
}
