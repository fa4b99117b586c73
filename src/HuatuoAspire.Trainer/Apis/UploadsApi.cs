using Azure;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.Trainer.Uploads;
using HuatuoAspire.Training.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace HuatuoAspire.Trainer.Apis;

/// <summary>
/// Base models and training data into blob storage from a browser (the dashboard's upload forms call these): the
/// files of a multipart upload are spooled to a folder of the trainer's own, checked and uploaded by the same code as
/// <c>huatuo upload model|data</c>, and the folder is removed again.
/// </summary>
public static class UploadsApi
{
    public sealed record UploadView(string Reference, int Blobs, long Bytes, int StaleDeleted, IReadOnlyList<StoredBlob> Uploaded);

    /// <summary>A browser upload of a whole model: 64 GiB holds an 8B model in BF16 with room to spare.</summary>
    public const long MaxUploadBytes = 64L << 30;

    public static IEndpointRouteBuilder MapUploadsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("api/uploads").RequireAuthorization(AdminAccess.PolicyName).DisableAntiforgery()
            .WithMetadata(new RequestSizeLimitAttribute(MaxUploadBytes))
            .WithMetadata(new RequestFormLimitsAttribute { MultipartBodyLengthLimit = MaxUploadBytes });
        api.MapPost("model", UploadModelAsync).WithName("UploadModel")
            .WithSummary("Upload a Hugging Face model folder (multipart: files, to=blob:PREFIX, overwrite) as blobs with their SHA-256.");
        api.MapPost("data", UploadDataAsync).WithName("UploadTrainingData")
            .WithSummary("Upload an SFT or PPO data file (multipart: file, kind=sft|ppo, to=blob:NAME, overwrite) after reading every record.");
        return app;
    }

    private static Task<Results<Ok<UploadView>, ProblemHttpResult>> UploadModelAsync(HttpContext http, ArtifactStore store, CancellationToken ct) =>
        SpooledAsync(http, ct, async (form, folder) =>
        {
            if (form.Files.Count == 0) throw new UploadRefusedException("choose the model folder's files (config.json, *.safetensors, tokenizer files).");
            foreach (var file in form.Files) await SpoolAsync(file, folder, ct);
            return await TrainingUploads.UploadModelAsync(store, folder, Target(form), Overwrite(form), ct);
        });

    private static Task<Results<Ok<UploadView>, ProblemHttpResult>> UploadDataAsync(HttpContext http, ArtifactStore store, CancellationToken ct) =>
        SpooledAsync(http, ct, async (form, folder) =>
        {
            var file = form.Files.GetFile("file") ?? throw new UploadRefusedException("choose a data file (JSON or JSONL).");
            var kind = form["kind"].ToString() switch
            {
                "sft" => TrainingRunKind.Sft,
                "ppo" => TrainingRunKind.Ppo,
                var other => throw new UploadRefusedException($"kind must be sft or ppo, got '{other}'."),
            };
            var path = await SpoolAsync(file, folder, ct);
            return await TrainingUploads.UploadDataAsync(store, path, kind, Target(form), Overwrite(form), ct);
        });

    private static async Task<Results<Ok<UploadView>, ProblemHttpResult>> SpooledAsync(HttpContext http, CancellationToken ct,
        Func<IFormCollection, string, Task<UploadResult>> upload)
    {
        var folder = Directory.CreateTempSubdirectory("huatuo-upload-").FullName;
        try
        {
            if (!http.Request.HasFormContentType) throw new UploadRefusedException("send the files as multipart/form-data.");
            var result = await upload(await http.Request.ReadFormAsync(ct), folder);
            return TypedResults.Ok(new UploadView(result.Target.ToString(), result.Uploaded.Count, result.Uploaded.Sum(b => b.SizeBytes),
                result.StaleDeleted, result.Uploaded));
        }
        catch (Exception e) when (e is UploadRefusedException or TrainingDataException or FormatException or InvalidDataException or RequestFailedException)
        {
            return TypedResults.Problem(e.Message, statusCode: e is RequestFailedException ? StatusCodes.Status502BadGateway : StatusCodes.Status400BadRequest,
                title: "Upload refused");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Only the file's own name is kept (a browser's folder upload sends "folder/name"): a model folder is flat.</summary>
    private static async Task<string> SpoolAsync(IFormFile file, string folder, CancellationToken ct)
    {
        var name = Path.GetFileName(file.FileName.Replace('\\', '/'));
        if (name.Length == 0 || name is "." or "..") throw new UploadRefusedException($"'{file.FileName}' is not a file name.");
        var path = Path.Combine(folder, name);
        await using var target = File.Create(path);
        await using var source = file.OpenReadStream();
        await source.CopyToAsync(target, ct);
        return path;
    }

    private static BlobReference Target(IFormCollection form) => BlobReference.Parse(form["to"].ToString().Trim() is { Length: > 0 } to
        ? to.StartsWith(BlobReference.Scheme, StringComparison.Ordinal) ? to : BlobReference.Scheme + to
        : throw new UploadRefusedException("give the blob to upload to (to=blob:PREFIX)."));

    private static bool Overwrite(IFormCollection form) => form["overwrite"].ToString() is "on" or "true";
}
