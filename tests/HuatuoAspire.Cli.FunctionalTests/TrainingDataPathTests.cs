using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.Data;
using HuatuoAspire.Data.Entities;
using HuatuoAspire.LocalServers;
using HuatuoAspire.Trainer.Apis;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>Issue 12 item 5: a training run reads data from the data folder, blob storage or a dataset, and nothing else.</summary>
[Collection(InfrastructureCollection.Name)]
public sealed class TrainingDataPathTests(InfrastructureFixture fixture)
{
    private const string Key = "data-path-pw";

    [Fact]
    public async Task ARunReadingAServerFileOutsideTheDataFolderIsRefusedAndTheAnswerSaysNothingAboutTheFile()
    {
        await using var app = await StartAsync();
        using var admin = Client(app, Key);
        var inside = Path.Combine(fixture.DataDirectory, $"inputs-{Guid.NewGuid():N}");
        Directory.CreateDirectory(inside);
        var link = Path.Combine(inside, "passwd.jsonl");
        File.CreateSymbolicLink(link, "/etc/passwd");

        // An existing file, a missing one, a way out of the data folder, a link out of it and a relative path: one answer.
        var answers = new List<string>();
        foreach (var data in new[] { "/etc/passwd", "/etc/no-such-file", Path.Combine(inside, "..", "..", "..", "etc", "passwd"), link, "etc/passwd" })
        {
            var response = await admin.PostAsJsonAsync("/api/training-runs", new { kind = "sft", model = "/no/such/model", data });
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var errors = (await response.Content.ReadFromJsonAsync<JsonObject>())!["errors"]!["request"]!.AsArray().Select(e => e!.GetValue<string>()).ToList();
            Assert.StartsWith($"data '{data}' is not allowed: a local file must be under {fixture.DataDirectory}", errors[0]);
            Assert.DoesNotContain(errors, e => e.Contains("does not exist") || e.Contains("root:"));
            answers.Add(errors[0].Replace(data, "DATA"));
        }
        Assert.Single(answers.Distinct());

        // Inside the data folder the request is checked as before.
        var missing = Path.Combine(inside, "sft.jsonl");
        var allowed = await admin.PostAsJsonAsync("/api/training-runs", new { kind = "sft", model = "/no/such/model", data = missing });
        Assert.Equal(HttpStatusCode.BadRequest, allowed.StatusCode);
        Assert.Contains($"data '{missing}' does not exist.", await allowed.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AnAnonymousCallerSeesThatARunFailedButNotItsErrorWhichMayNameServerPaths()
    {
        await using var app = await StartAsync();
        var contexts = app.Services.GetRequiredService<IDbContextFactory<HuatuoDbContext>>();
        long id;
        await using (var db = await contexts.CreateDbContextAsync())
        {
            var run = new TrainingRun
            {
                Kind = TrainingRunKind.Sft, Name = "failed", Config = "{}", Status = RunStatus.Failed,
                Error = "The model folder /srv/private/models/base has no config.json.",
            };
            db.TrainingRuns.Add(run);
            await db.SaveChangesAsync();
            id = run.Id;
        }

        using var anonymous = Client(app, key: null);
        var seen = (await anonymous.GetFromJsonAsync<JsonObject>($"/api/training-runs/{id}"))!;
        Assert.Equal("Failed", seen["status"]!.GetValue<string>());
        Assert.Equal(TrainingRunsApi.HiddenError, seen["error"]!.GetValue<string>());

        using var admin = Client(app, Key);
        var full = (await admin.GetFromJsonAsync<JsonObject>($"/api/training-runs/{id}"))!;
        Assert.Equal("The model folder /srv/private/models/base has no config.json.", full["error"]!.GetValue<string>());
    }

    private static HttpClient Client(WebApplication app, string? key)
    {
        var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    private async Task<WebApplication> StartAsync()
    {
        var app = await AllInOneHost.CreateAsync(new AllInOneOptions(fixture.DataDirectory, $"http://127.0.0.1:{FreePort.Pick()}",
            [$"--Admin:Password={Key}"], ["trainer"]), fixture.Infrastructure, CancellationToken.None);
        await app.StartAsync();
        return app;
    }
}
