using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Data;
using HuatuoAspire.Storage;
using HuatuoAspire.Data.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static HuatuoAspire.Dashboard.FunctionalTests.DashboardHtml;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// Data in from the browser on the all-in-one host (real PostgreSQL and Azurite): a file imported with its malformed
/// rows named by line, an export that imports back, a model folder and a data file uploaded to blob storage with their
/// SHA-256, offered by the training forms, trained on, and the checkpoint served from its row.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class DataPageTests(DashboardFixture fixture)
{
    [Fact]
    public async Task AnAdminImportsAnSftFileFromTheBrowserSeesTheMalformedRowByItsLineAndExportsTheDataset()
    {
        var host = await fixture.HostAsync("--Dashboard:UploadLimitMiB=1");
        var dataset = $"browser-import-{Guid.NewGuid():N}";
        var lines = new[]
        {
            JsonSerializer.Serialize(new Dictionary<string, string> { ["Question"] = "Which drug clears hypnozoites?", ["Complex_CoT"] = "Primaquine acts on the liver stage.", ["Response"] = "Primaquine" }),
            "{ this line is not JSON",
            JsonSerializer.Serialize(new Dictionary<string, string> { ["Question"] = "Which vitamin prevents scurvy?", ["Complex_CoT"] = "Scurvy is vitamin C deficiency.", ["Response"] = "Vitamin C" }),
        };

        var page = await host.Browser.GetStringAsync("/data");
        Assert.Contains("id=\"form-import\"", page);
        using var form = Form(page, "import", ("format", "sft"), ("dataset", dataset));
        form.Add(JsonFile(string.Join('\n', lines)), "file", "paths.jsonl");
        var posted = await host.Browser.PostAsync("/data", form);
        var answer = WebUtility.HtmlDecode(await posted.Content.ReadAsStringAsync());
        Assert.True(posted.StatusCode == HttpStatusCode.OK, answer);
        Assert.Contains($"paths.jsonl into {dataset}: CompletedWithSkips; 3 rows read", answer);
        Assert.Contains("2 SFT records imported", answer);
        Assert.Matches("<li>line 2: [^<]+</li>", Row(answer, "import-errors", "</ol>"));
        // The answer's own list of datasets has the new one: no reload needed to see it.
        Assert.Contains($"href=\"/data/export/{dataset}?content=sft\"", Row(answer, "datasets", "</table>"));

        // The dataset's row offers the export, and the export is the reference's JSON of exactly the rows kept.
        Assert.Contains($"href=\"/data/export/{dataset}?content=sft\"", WebUtility.HtmlDecode(await host.Browser.GetStringAsync("/data")));
        using var export = await host.Browser.GetAsync($"/data/export/{dataset}?content=sft");
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        Assert.Equal($"attachment; filename=\"{dataset}-sft.json\"", export.Content.Headers.ContentDisposition?.ToString());
        var records = JsonNode.Parse(await export.Content.ReadAsStringAsync())!.AsArray();
        Assert.Equal(["Primaquine", "Vitamin C"], records.Select(r => r!["Response"]!.GetValue<string>()).Order());
        Assert.Equal(HttpStatusCode.NotFound, (await host.Browser.GetAsync($"/data/export/no-such-{Guid.NewGuid():N}?content=sft")).StatusCode);

        // Over the configured limit (1 MiB here): refused before it is read, and nothing is imported.
        using var large = Form(page, "import", ("format", "sft"), ("dataset", dataset + "-large"));
        large.Add(JsonFile(new string(' ', 2 << 20) + lines[0]), "file", "large.jsonl");
        var refused = await host.Browser.PostAsync("/data", large);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);
        Assert.Contains("the dashboard takes at most 1 MiB", await refused.Content.ReadAsStringAsync());
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        Assert.False(await db.Datasets.AnyAsync(d => d.Name == dataset + "-large"));
    }

    [Fact]
    public async Task AnAdminUploadsAModelAndSftDataToBlobStorageTrainsOnThemAndServesTheCheckpointFromItsRow()
    {
        var (model, data) = await TinySftRun.WriteAsync(fixture.NewFolder("upload"), examples: 4, seed: 5);
        // It changes the model the host serves: a host of its own.
        var host = await fixture.FreshHostAsync();
        var id = Guid.NewGuid().ToString("N");
        var store = host.App.Services.GetRequiredService<ArtifactStore>();

        // The data file: every record read first; a record without its Response is refused and nothing is uploaded.
        var page = await host.Browser.GetStringAsync("/data");
        using (var bad = Form(page, "upload-data", ("kind", "sft"), ("to", $"blob:data/{id}/bad.jsonl")))
        {
            bad.Add(JsonFile("{\"Question\": \"q\", \"Complex_CoT\": \"c\"}"), "file", "bad.jsonl");
            var refused = await host.Browser.PostAsync("/data", bad);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains("Response", Row(WebUtility.HtmlDecode(await refused.Content.ReadAsStringAsync()), "answer-upload-data", "</p>"));
        }
        using (var good = Form(page, "upload-data", ("kind", "sft"), ("to", $"blob:data/{id}/sft.jsonl")))
        {
            good.Add(JsonFile(await System.IO.File.ReadAllTextAsync(data)), "file", "sft.jsonl");
            var uploaded = await host.Browser.PostAsync("/data", good);
            var answer = WebUtility.HtmlDecode(await uploaded.Content.ReadAsStringAsync());
            Assert.True(uploaded.StatusCode == HttpStatusCode.OK, answer);
            Assert.Contains($"Uploaded 1 blob(s) with their SHA-256: use blob:data/{id}/sft.jsonl.", answer);
        }

        // The model folder, all its files in one post (named as a browser's folder upload names them), each blob with the SHA-256 the trainer checks.
        var files = Directory.GetFiles(model);
        using (var folder = Form(page, "upload-model", ("to", $"blob:models/{id}")))
        {
            foreach (var file in files) folder.Add(new ByteArrayContent(await System.IO.File.ReadAllBytesAsync(file)), "files", $"model/{Path.GetFileName(file)}");
            var uploaded = await host.Browser.PostAsync("/data", folder);
            var answer = WebUtility.HtmlDecode(await uploaded.Content.ReadAsStringAsync());
            Assert.True(uploaded.StatusCode == HttpStatusCode.OK, answer);
            Assert.Contains($"Uploaded {files.Length} blob(s) with their SHA-256: use blob:models/{id}.", answer);
        }
        foreach (var file in files)
        {
            var properties = await store.Container.GetBlobClient($"models/{id}/{Path.GetFileName(file)}").GetPropertiesAsync();
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await System.IO.File.ReadAllBytesAsync(file))),
                properties.Value.Metadata[ArtifactStore.Sha256MetadataKey]);
        }
        using (var again = Form(page, "upload-model", ("to", $"blob:models/{id}")))
        {
            foreach (var file in files) again.Add(new ByteArrayContent(await System.IO.File.ReadAllBytesAsync(file)), "files", Path.GetFileName(file));
            var refused = await host.Browser.PostAsync("/data", again);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains($"blob:models/{id} already holds {files.Length} blob(s)", WebUtility.HtmlDecode(await refused.Content.ReadAsStringAsync()));
        }

        // The training form offers both; an SFT run on them trains to the end.
        var training = WebUtility.HtmlDecode(await host.Browser.GetStringAsync("/training"));
        Assert.Contains($"<option value=\"blob:models/{id}\"></option>", Row(training, "blob-models", "</datalist>"));
        Assert.Contains($"<option value=\"blob:data/{id}/sft.jsonl\"></option>", Row(training, "blob-data", "</datalist>"));
        var posted = await host.Browser.PostAsync("/training", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "start-sft", ["__RequestVerificationToken"] = AntiforgeryToken(training),
            ["name"] = "sft from blobs", ["model"] = $"blob:models/{id}", ["data"] = $"blob:data/{id}/sft.jsonl", ["epochs"] = "1",
            ["learning_rate"] = "1e-3", ["batch_size"] = "2", ["micro_batch_size"] = "1", ["max_seq_len"] = "128", ["save_every"] = "100",
        }));
        var started = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, started);
        var runId = StartedId(started, "training");
        await using var db = await host.App.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>().CreateDbContextAsync();
        var run = await RunsToEnd.TrainingAsync(db, runId);
        Assert.True(run.Status == RunStatus.Succeeded, $"{run.Status}: {run.Error}");

        // Its checkpoint's row serves it; the served-model page names it, and the evaluate link fills in that name.
        var checkpoint = await db.Checkpoints.AsNoTracking().Where(c => c.TrainingRunId == runId).OrderByDescending(c => c.Step).FirstAsync();
        var runPage = WebUtility.HtmlDecode(await host.Browser.GetStringAsync($"/training/{runId}"));
        var served = $"run-{runId}-step-{checkpoint.Step}";
        Assert.Contains($"href=\"/evaluations?model={served}\"", Row(runPage, $"checkpoint-{checkpoint.Step}"));
        var serve = await host.Browser.PostAsync($"/training/{runId}", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = $"serve-{checkpoint.Step}", ["__RequestVerificationToken"] = AntiforgeryToken(runPage),
        }));
        var serveAnswer = WebUtility.HtmlDecode(await serve.Content.ReadAsStringAsync());
        Assert.True(serve.StatusCode == HttpStatusCode.OK, serveAnswer);
        Assert.Contains($"<td>{served}</td>", await host.Browser.GetStringAsync("/model"));
        Assert.Contains($"value=\"{served}\"", await host.Browser.GetStringAsync($"/evaluations?model={served}"));
    }

    /// <summary>A multipart post of the named form on <paramref name="page"/> with its antiforgery token and fields.</summary>
    private static MultipartFormDataContent Form(string page, string name, params (string Name, string Value)[] fields)
    {
        var form = new MultipartFormDataContent
        {
            { new StringContent(name), "_handler" },
            { new StringContent(AntiforgeryToken(page)), "__RequestVerificationToken" },
        };
        foreach (var (field, value) in fields) form.Add(new StringContent(value), field);
        return form;
    }

    private static ByteArrayContent JsonFile(string text)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }
}
