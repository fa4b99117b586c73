using Microsoft.AspNetCore.Http.Features;

namespace HuatuoAspire.Dashboard.Services;

/// <summary>
/// How large a browser upload to the dashboard may be (<c>Dashboard:UploadLimitMiB</c>, default 16384 = 16 GiB: an 8B
/// model in BF16). A larger post is answered 413 before any of it is read; an upload is spooled to disk as it
/// arrives, never held in memory whole.
/// </summary>
public sealed class UploadLimit(IConfiguration configuration)
{
    public long MaxBytes { get; } = configuration.GetValue<long?>("Dashboard:UploadLimitMiB") is { } mib and > 0 ? mib << 20 : 16L << 30;

    public static string Describe(long bytes) => bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):0.#} GiB" : $"{bytes / (double)(1L << 20):0.#} MiB";

    /// <summary>Applies the limit to the dashboard's own upload page: the request body and the form reader.</summary>
    public static IApplicationBuilder UseUploadLimit(IApplicationBuilder app, PathString path) => app.Use(async (context, next) =>
    {
        if (HttpMethods.IsPost(context.Request.Method) && context.Request.Path.Equals(path, StringComparison.OrdinalIgnoreCase))
        {
            var limit = context.RequestServices.GetRequiredService<UploadLimit>().MaxBytes;
            if (context.Request.ContentLength > limit)
            {
                context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                await context.Response.WriteAsync($"The upload is {Describe(context.Request.ContentLength.Value)}; the dashboard takes at most {Describe(limit)} " +
                    "(Dashboard:UploadLimitMiB). Nothing was kept. Larger models: huatuo upload model.");
                return;
            }
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = limit;
            context.Features.Set<IFormFeature>(new FormFeature(context.Request, new FormOptions { MultipartBodyLengthLimit = limit }));
        }
        await next();
    });
}
