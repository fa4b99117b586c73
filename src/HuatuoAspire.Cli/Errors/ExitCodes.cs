namespace HuatuoAspire.Cli.Errors;

/// <summary>What <c>huatuo</c>'s exit status means (the README's command-line section lists the same).</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>The command ran and did not succeed (e.g. <c>eval</c>: a question got no answer), or an unexpected error.</summary>
    public const int Failed = 1;
    /// <summary>Bad input: an option, an argument or a file the command cannot use.</summary>
    public const int BadInput = 2;
    /// <summary><c>construct</c>/<c>search</c>: some items were deferred after LLM errors; running the command again retries them.</summary>
    public const int ItemsDeferred = 3;
    /// <summary>The machine refused: permission denied, a disk or file-system error, a local server that would not start.</summary>
    public const int EnvironmentRefused = 4;
    /// <summary>A service could not be reached or kept failing: PostgreSQL, blob storage, an LLM or inference endpoint.</summary>
    public const int ServiceUnavailable = 5;
    /// <summary>Interrupted (Ctrl+C), as shells report SIGINT.</summary>
    public const int Interrupted = 130;
}
