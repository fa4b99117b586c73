using HuatuoAspire.Data;
using HuatuoAspire.Data.Export;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.EntityFrameworkCore;

namespace HuatuoAspire.Dashboard;

/// <summary>
/// The export buttons: a dataset's verifiable problems or SFT records as the reference's JSON, streamed from the
/// database as a download (the same writer as <c>huatuo export</c>, so the file imports back unchanged).
/// </summary>
public static class DatasetExportEndpoint
{
    public static IEndpointRouteBuilder MapDatasetExport(this IEndpointRouteBuilder app)
    {
        app.MapGet("/data/export/{dataset}", ExportAsync).WithName("ExportDataset")
            .WithSummary("A dataset's verifiable problems (content=problems) or SFT records (content=sft) as a JSON array.");
        return app;
    }

    private static async Task<IResult> ExportAsync(string dataset, string? content, HttpContext http, DatasetExporter exporter,
        IDbContextFactory<HuatuoDbContext> contexts, CancellationToken ct)
    {
        ExportContent? what = content switch { "problems" => ExportContent.Problems, "sft" => ExportContent.Sft, _ => null };
        if (what is null) return TypedResults.Problem($"content must be problems or sft, got '{content}'.", statusCode: StatusCodes.Status400BadRequest);
        await using (var db = await contexts.CreateDbContextAsync(ct))
        {
            if (!await db.Datasets.AnyAsync(d => d.Name == dataset, ct))
                return TypedResults.Problem($"No dataset named '{dataset}'.", statusCode: StatusCodes.Status404NotFound);
        }
        http.Response.ContentType = "application/json; charset=utf-8";
        var fileName = string.Concat($"{dataset}-{content}.json".Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}\"";
        // The writer ends the file with one synchronous newline byte after its asynchronous flushes.
        if (http.Features.Get<IHttpBodyControlFeature>() is { } body) body.AllowSynchronousIO = true;
        await exporter.ExportAsync(what.Value, http.Response.Body, ExportFormat.Json, dataset, ct);
        return TypedResults.Empty;
    }
}
