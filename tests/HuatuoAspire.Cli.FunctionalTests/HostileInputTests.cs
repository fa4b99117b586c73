using System.Net;
using System.Net.Http.Headers;
using System.Text;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.LocalServers;
using Xunit.Abstractions;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>Hostile values on every route get an answer that says what was wrong, never a 500 with an empty body.</summary>
[Collection(InfrastructureCollection.Name)]
public sealed class HostileInputTests(InfrastructureFixture fixture, ITestOutputHelper output)
{
    private const string Key = "hostile-s3cret";

    [Fact]
    public async Task EveryRouteAnswersHostileValuesWithoutA500AndBadInputWithA400AndItsReason()
    {
        var port = FreePort.Pick();
        await using var app = await AllInOneHost.CreateAsync(
            new AllInOneOptions(fixture.DataDirectory, $"http://127.0.0.1:{port}", [$"--Admin:Password={Key}"]), fixture.Infrastructure, CancellationToken.None);
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);

        string[] pages =
        [
            "/problems?page=2147483647", "/problems?page=-2147483648", "/problems?page=abc", "/problems?status=%00&page=2",
            "/problems/999999999999", "/problems/-1", "/trajectories/0", "/runs/9223372036854775807", "/training/-1",
            "/evaluations/1?page=99999999999", "/evaluations/1?page=2147483647&benchmark=%00", "/evaluations/-1",
            "/api/pipeline-runs/9223372036854775807", "/api/training-runs/0", "/api/evaluation-runs/1/report?format=%00",
            "/api/evaluation-runs/-5", "/v1/models",
        ];
        var failures = new List<string>();
        foreach (var path in pages)
        {
            var response = await http.GetAsync(path);
            output.WriteLine($"GET {path} → {(int)response.StatusCode}");
            if ((int)response.StatusCode >= 500) failures.Add($"GET {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }

        // (route, body, whether it is bad input that must be a 400 naming the reason)
        (string Path, string Body, string? Reason)[] posts =
        [
            ("/admin/inference/model", """{"blob_prefix":"/"}""", "blob_prefix"),
            ("/admin/inference/model", """{"blob_prefix":"../../etc"}""", "blob_prefix"),
            ("/admin/inference/model", """{"path":"\u0000"}""", "path"),
            ("/admin/inference/model", "{", "JSON"),
            ("/api/evaluation-runs", """{"benchmarkBlob":"../x"}""", "benchmarkBlob"),
            ("/api/evaluation-runs", """{"benchmarkBlob":"/"}""", "benchmarkBlob"),
            ("/api/evaluation-runs", """{"datasetId":-1}""", null),
            ("/api/evaluation-runs", """{"datasetId":"x"}""", null),
            ("/api/pipeline-runs/construction", """{"limit":-1,"datasetId":-7}""", "limit"),
            ("/api/pipeline-runs/construction", """{"datasetId":"x"}""", null),
            ("/api/pipeline-runs/search", "[]", null),
            ("/api/pipeline-runs/search", """{"maxDepth":2147483647,"maxAttempts":-1}""", null),
            ("/api/training-runs", """{"kind":"sft","model":"\u0000","data":"x"}""", null),
            ("/api/training-runs", """{"kind":"nope"}""", null),
            ("/api/training-runs", """{"kind":"sft","model":"/","data":"/","warmup_ratio":7}""", "warmup_ratio"),
            ("/api/pipeline-runs/9223372036854775807/cancel", "{}", null),
            ("/api/evaluation-runs/9223372036854775807/resume", "{}", null),
            ("/v1/chat/completions", """{"model":"default","messages":[{"role":"user","content":"\u0000\ud800"}],"max_tokens":-1}""", "content"),
        ];
        foreach (var (path, body, reason) in posts)
        {
            var response = await http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            output.WriteLine($"POST {path} {body} → {(int)response.StatusCode} {text}");
            if ((int)response.StatusCode >= 500) failures.Add($"POST {path} {body}: {(int)response.StatusCode} {text}");
            else if (reason is not null && (response.StatusCode != HttpStatusCode.BadRequest || !text.Contains(reason, StringComparison.OrdinalIgnoreCase)))
                failures.Add($"POST {path} {body}: expected 400 naming {reason}, got {(int)response.StatusCode} {text}");
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public async Task WithTheDatabaseDownPagesAnswer503SayingSo()
    {
        // World-traversable (not CreateTempSubdirectory's 0700): PostgreSQL runs as its own user when the tests run as root.
        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"huatuo-outage-{Guid.NewGuid():N}")).FullName;
        var postgres = await PostgresServer.StartAsync(Path.Combine(dir, "pg"));
        try
        {
            var database = await postgres.EnsureDatabaseAsync("huatuodb");
            await using var infrastructure = await LocalInfrastructure.StartAsync(dir, "huatuodb", database, fixture.Infrastructure.BlobConnectionString);
            var port = FreePort.Pick();
            await using var app = await AllInOneHost.CreateAsync(
                new AllInOneOptions(dir, $"http://127.0.0.1:{port}", [], ["dashboard"]), infrastructure, CancellationToken.None);
            await app.StartAsync();
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/problems")).StatusCode);

            await postgres.StopAsync();
            foreach (var path in new[] { "/problems", "/runs", "/" })
            {
                var response = await http.GetAsync(path);
                var text = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{path}: {(int)response.StatusCode} {text}");
                Assert.Contains("database is unavailable", text);
                Assert.NotNull(response.Headers.RetryAfter);
            }
        }
        finally
        {
            await postgres.DisposeAsync();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
