using System.Text.Json;
using HuatuoAspire.Inference.Contracts;
using HuatuoAspire.Inference.Scheduling;
using HuatuoAspire.Inference.Serving;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace HuatuoAspire.Inference.Apis;

/// <summary>Admin actions on the inference service: switching the served model without a restart.</summary>
public static class InferenceAdminApi
{
    public static RouteGroupBuilder MapInferenceAdminApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/admin/inference").RequireAuthorization(AdminAccess.PolicyName);
        api.MapPost("/model", SwitchModel)
            .WithName("SwitchServedModel")
            .WithSummary("Loads a model folder and swaps it in between decode steps once the running requests have finished.");
        return api;
    }

    public static async Task<IResult> SwitchModel(HttpContext http, ContinuousBatchScheduler scheduler, CheckpointDownloader checkpoints,
        IOptions<InferenceOptions> options, [FromServices] IServedModelLoader? loader)
    {
        var ct = http.RequestAborted;
        SwitchModelRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<SwitchModelRequest>(http.Request.Body, InferenceJson.Options, ct);
        }
        catch (JsonException e)
        {
            return Error(InferenceRequestException.InvalidParameter("body", "The request body is not valid JSON: " + e.Message));
        }
        if (string.IsNullOrWhiteSpace(body?.Path) == string.IsNullOrWhiteSpace(body?.BlobPrefix))
            return Error(InferenceRequestException.InvalidParameter("path",
                "Give exactly one of 'path' (a model folder on the server) or 'blob_prefix' (a checkpoint in blob storage)."));
        if (loader is null) return Error(InferenceRequestException.NoModel(InferenceServiceExtensions.NoEngineMessage));
        string path;
        if (body!.BlobPrefix is { } prefix && !string.IsNullOrWhiteSpace(prefix))
        {
            if (prefix.Trim('/').Length == 0 || prefix.Split('/').Any(part => part is "." or ".."))
                return Error(InferenceRequestException.InvalidParameter("blob_prefix", $"'{prefix}' is not a checkpoint's blob prefix (e.g. training/run-3/final)."));
            try
            {
                path = await checkpoints.DownloadAsync(prefix.Trim('/'), ct);
            }
            catch (InferenceRequestException e)
            {
                return Error(e);
            }
        }
        else
        {
            path = body.Path!;
            if (!Directory.Exists(path))
                return Error(InferenceRequestException.InvalidParameter("path", $"The model folder '{path}' does not exist on the server."));
        }
        body.Path = path;

        var id = body.ModelId ?? scheduler.Current?.Id ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(body.Path));
        ServedModel next;
        try
        {
            next = await loader.LoadAsync(new ModelLoadRequest(body.Path, id, options.Value.MaxBatchSize, options.Value.ContextLength, options.Value.WeightDType), ct);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or JsonException or ArgumentException)
        {
            return Error(InferenceRequestException.InvalidParameter("path", $"The model in '{body.Path}' could not be loaded: {e.Message}"));
        }
        try
        {
            var served = await scheduler.SwitchAsync(next, ct);
            return Results.Json(new SwitchModelResponse(served.Id, served.Source, served.OwnedBy, served.ContextLength), InferenceJson.Options);
        }
        catch (InferenceRequestException e)
        {
            next.Dispose();
            return Error(e);
        }
    }

    private static IResult Error(InferenceRequestException e) => Results.Json(e.ToResponse(), InferenceJson.Options, statusCode: e.Status);
}
