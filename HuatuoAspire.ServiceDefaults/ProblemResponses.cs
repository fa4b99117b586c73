using System.Data.Common;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The one place an exception that escapes an endpoint becomes an answer: bad input (an argument, number or JSON
/// the code refused) is 400 with the reason; the database out of reach is 503 saying so; anything else is 500 with
/// a ProblemDetails body instead of an empty one. Every service gets it through AddServiceDefaults.
/// </summary>
public static class ProblemResponses
{
    public static TBuilder AddProblemResponses<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        if (builder.Services.Any(s => s.ImplementationType == typeof(ProblemExceptionHandler))) return builder;
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
        // First in the pipeline, so that it also catches what the later middleware (and pages) throw.
        builder.Services.AddTransient<IStartupFilter, ProblemResponsesStartupFilter>();
        return builder;
    }

    /// <summary>The status and title an exception calls for; null when it is a bug (500).</summary>
    public static (int Status, string Title)? Classify(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is DbException { IsTransient: true } or SocketException or TimeoutException)
                return (StatusCodes.Status503ServiceUnavailable, "The database is unavailable; try again shortly");
        }
        return exception switch
        {
            BadHttpRequestException bad => (bad.StatusCode, "Bad request"),
            ArgumentException or FormatException or OverflowException or JsonException => (StatusCodes.Status400BadRequest, "Bad request"),
            _ => null,
        };
    }

    private sealed class ProblemResponsesStartupFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.UseExceptionHandler();
            next(app);
        };
    }
}

internal sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken ct)
    {
        var known = ProblemResponses.Classify(exception);
        var (status, title) = known ?? (StatusCodes.Status500InternalServerError, "Internal error");
        if (known is null) logger.LogError(exception, "Unhandled exception on {Method} {Path}", context.Request.Method, context.Request.Path);
        else logger.LogWarning("{Method} {Path} answered {Status}: {Reason}", context.Request.Method, context.Request.Path, status, exception.Message);
        context.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable) context.Response.Headers.RetryAfter = "5";
        var details = new ProblemDetails
        {
            Status = status,
            Title = title,
            // The reason for bad input is the caller's to read; a bug's details stay in the log.
            Detail = known is null ? "The server failed on this request; the error is in its log." : exception.Message,
        };
        if (await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = details, Exception = exception })) return true;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync($"{title}: {details.Detail}", ct);
        return true;
    }
}
