using System.Security.Cryptography;
using System.Text;

namespace HuatuoAspire.Evaluation;

/// <summary>
/// What identifies an asked question when resuming: the SHA-256 of the exact prompt (question, options and prompt
/// style), not its position, so a different or edited data file never reuses another question's answer.
/// </summary>
public static class QuestionHash
{
    public static string Of(string prompt) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(prompt)));
}
