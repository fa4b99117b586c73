using System.Net;
using HuatuoAspire.Cli.Hosting;
using HuatuoAspire.LocalServers;
using Microsoft.AspNetCore.Builder;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// The real servers (TestSupport's <see cref="InfrastructureFixture"/>) and the all-in-one host the tests share: it is
/// started on first use and kept while the next test asks for the same settings, so the pages' tests do not pay a
/// host start each. A test that needs other settings (a password, an LLM endpoint) gets a host with those in its
/// place; one that changes what the host serves asks for a fresh one, which the next test does not reuse. At most one
/// such host runs at a time: its workers take any job in the database.
/// </summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    private readonly InfrastructureFixture _servers = new();
    private RunningHost? _host;
    private string[] _settings = [];
    private bool _reusable;

    public string DataDirectory => _servers.DataDirectory;
    public LocalInfrastructure Infrastructure => _servers.Infrastructure;

    /// <summary>Where the host's trainer works; one folder for every host of the collection (a resumed run finds its work).</summary>
    public string TrainerWorkDirectory => Path.Combine(DataDirectory, "trainer-work");

    public Task InitializeAsync() => _servers.InitializeAsync();

    public async Task DisposeAsync()
    {
        if (_host is not null) await _host.DisposeAsync();
        await _servers.DisposeAsync();
    }

    /// <summary>A new empty folder inside the fixture's folder (removed with it).</summary>
    public string NewFolder(string name) => _servers.NewFolder(name);

    /// <summary>The running host with every service and these extra settings (<c>--Key=value</c>), started if need be.</summary>
    public async Task<RunningHost> HostAsync(params string[] settings)
    {
        if (_host is not null && _reusable && _settings.SequenceEqual(settings)) return _host;
        return await RestartAsync(settings, reusable: true);
    }

    /// <summary>
    /// A newly started host for a test that changes the host's state beyond the database (the model it serves): the
    /// next test gets another.
    /// </summary>
    public Task<RunningHost> FreshHostAsync(params string[] settings) => RestartAsync(settings, reusable: false);

    /// <summary>
    /// A host of the test's own with only the dashboard, on the given data folder; the test disposes it (several may run
    /// at once, as replicas). The shared host is stopped first: Hangfire's configuration (its log provider, its storage)
    /// is process-wide and taken from the host built last, so a host that outlived a newer one would log and enqueue
    /// through the newer one's disposed services.
    /// </summary>
    public async Task<WebApplication> StartDashboardAsync(string dataDirectory, params string[] settings)
    {
        if (_host is not null) await _host.DisposeAsync();
        _host = null;
        var app = await AllInOneHost.CreateAsync(new AllInOneOptions(dataDirectory, $"http://127.0.0.1:{FreePort.Pick()}", settings, ["dashboard"]),
            Infrastructure, CancellationToken.None);
        await app.StartAsync();
        return app;
    }

    private async Task<RunningHost> RestartAsync(string[] settings, bool reusable)
    {
        if (_host is not null) await _host.DisposeAsync();
        _host = null;
        var port = FreePort.Pick();
        var app = await AllInOneHost.CreateAsync(
            new AllInOneOptions(DataDirectory, $"http://127.0.0.1:{port}", [$"--Trainer:WorkDirectory={TrainerWorkDirectory}", .. settings]),
            Infrastructure, CancellationToken.None);
        await app.StartAsync();
        var browser = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
        };
        (_host, _settings, _reusable) = (new RunningHost(app, browser), settings, reusable);
        return _host;
    }
}
