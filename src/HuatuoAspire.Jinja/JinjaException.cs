namespace HuatuoAspire.Jinja;

/// <summary>A chat template that does not parse or fails while rendering; the message names the template line.</summary>
public sealed class JinjaException(string message, Exception? inner = null) : Exception(message, inner)
{
    public static JinjaException At(int line, string message) => new($"chat template line {line}: {message}");
}
