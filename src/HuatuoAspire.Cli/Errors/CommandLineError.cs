using System.ComponentModel;
using System.Net.Http;
using System.Net.Sockets;
using System.Reflection;
using System.Text.Json;
using Azure;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Import;
using HuatuoAspire.Evaluation;
using HuatuoAspire.LocalServers;
using HuatuoAspire.Model;
using HuatuoAspire.Reasoning.Files;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Training.Data;
using Npgsql;

namespace HuatuoAspire.Cli.Errors;

/// <summary>
/// The one place where an exception that escaped a command becomes what the user sees: one line on stderr and an exit
/// code (<see cref="ExitCodes"/>); the stack trace only with <c>--verbose</c>.
/// </summary>
public sealed record CommandLineError(string Message, int ExitCode)
{
    public static CommandLineError From(Exception exception, bool interrupted)
    {
        var outermost = Unwrap(exception);
        if (outermost is OperationCanceledException && interrupted) return new("interrupted", ExitCodes.Interrupted);
        // A wrapper (EF Core's "transient failure", a library's InvalidOperationException) often holds the exception
        // that says what happened: the first one in the chain we know decides.
        for (Exception? e = outermost; e is not null; e = e.InnerException is { } inner ? Unwrap(inner) : null)
        {
            if (Classify(e) is { } known) return known;
        }
        return outermost is InvalidOperationException
            ? new(OneLine(outermost), ExitCodes.Failed) // our own refusals ("run `huatuo migrate` first") are written for the user
            : new($"{OneLine(outermost)} ({outermost.GetType().Name}; --verbose shows where)", ExitCodes.Failed);
    }

    private static CommandLineError? Classify(Exception e) => e switch
    {
        // Our own exceptions carry a message written for the user.
        LocalServerException => new(OneLine(e), ExitCodes.EnvironmentRefused),
        LlmCallException => new(WithCause(e), ExitCodes.ServiceUnavailable),
        LlmConfigurationException or BenchmarkFormatException or RecordFileException or TrainingDataException or RowFormatException
            or ModelFormatException => new(OneLine(e), ExitCodes.BadInput),
        BlobHashMismatchException => new(OneLine(e), ExitCodes.Failed),
        // The usual suspects from the platform and the clients we use.
        FileNotFoundException or DirectoryNotFoundException => new(OneLine(e), ExitCodes.BadInput),
        ArgumentException or FormatException or JsonException or InvalidDataException => new(OneLine(e), ExitCodes.BadInput),
        UnauthorizedAccessException => new($"permission denied: {OneLine(e)}", ExitCodes.EnvironmentRefused),
        IOException => new(OneLine(e), ExitCodes.EnvironmentRefused),
        Win32Exception => new($"could not start a program: {OneLine(e)}", ExitCodes.EnvironmentRefused),
        // The server answered with an error (a constraint, a missing table): reached, but the command failed.
        PostgresException => new($"PostgreSQL: {OneLine(e)}", ExitCodes.Failed),
        NpgsqlException => new($"PostgreSQL: {WithCause(e)}", ExitCodes.ServiceUnavailable),
        HttpRequestException or SocketException => new(WithCause(e), ExitCodes.ServiceUnavailable),
        RequestFailedException => new($"blob storage: {OneLine(e)}", ExitCodes.ServiceUnavailable),
        TimeoutException or OperationCanceledException => new($"timed out: {OneLine(e)}", ExitCodes.ServiceUnavailable),
        _ => null,
    };

    /// <summary>Writes the line (and, with <paramref name="verbose"/>, the whole exception) and returns the exit code.</summary>
    public static int Report(Exception exception, bool interrupted, bool verbose, TextWriter stderr)
    {
        var error = From(exception, interrupted);
        stderr.WriteLine($"huatuo: {error.Message}");
        if (verbose) stderr.WriteLine(exception);
        return error.ExitCode;
    }

    /// <summary>The exception that says what happened, not the wrapper a task, reflection or a static constructor put around it.</summary>
    private static Exception Unwrap(Exception e)
    {
        while (true)
        {
            switch (e)
            {
                case AggregateException { InnerExceptions.Count: 1 } a: e = a.InnerExceptions[0]; continue;
                case TargetInvocationException { InnerException: { } inner }: e = inner; continue;
                case TypeInitializationException { InnerException: { } inner }: e = inner; continue;
                default: return e;
            }
        }
    }

    /// <summary>The message and its cause (a connection error's socket reason), e.g. "Failed to connect to 127.0.0.1:1: Connection refused".</summary>
    private static string WithCause(Exception e)
    {
        var message = OneLine(e);
        var cause = e.InnerException is { } inner ? OneLine(Unwrap(inner)) : null;
        return cause is null || message.Contains(cause, StringComparison.Ordinal) ? message : $"{message}: {cause}";
    }

    /// <summary>The first line of a message (Azure's carry the response headers after it), trimmed.</summary>
    private static string OneLine(Exception e)
    {
        var text = e.Message.Trim();
        var end = text.IndexOfAny(['\r', '\n']);
        return (end < 0 ? text : text[..end]).TrimEnd();
    }
}
