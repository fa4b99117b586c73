using Microsoft.Playwright;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// Debian's Chromium (<c>scripts/prerequisites.sh --tests</c> installs it) driven by Playwright, headless. Screenshots
/// are test artifacts: <c>artifacts/test-results/screenshots</c> of the checkout, beside the test results.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    private const string Executable = "/usr/bin/chromium";
    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;

    private HeadlessChromium(IPlaywright playwright, IBrowser browser) => (_playwright, _browser) = (playwright, browser);

    public static string ScreenshotFolder => Checkout.Path("artifacts", "test-results", "screenshots");

    public static async Task<HeadlessChromium> LaunchAsync()
    {
        Assert.True(File.Exists(Executable), $"{Executable} is missing: run scripts/prerequisites.sh --tests");
        var playwright = await Playwright.CreateAsync();
        return new HeadlessChromium(playwright, await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Executable, Headless = true }));
    }

    /// <summary>A page on the host. <paramref name="bypassCsp"/>: the dashboard allows no inline script, axe is injected by the test.</summary>
    public Task<IPage> NewPageAsync(RunningHost host, bool bypassCsp = false) =>
        _browser.NewPageAsync(new() { BaseURL = host.BaseAddress.ToString(), ViewportSize = new() { Width = 1200, Height = 900 }, BypassCSP = bypassCsp });

    /// <summary>The whole page as <c>NAME.png</c> in the screenshot folder.</summary>
    public static async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ScreenshotFolder);
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder, $"{name}.png"), FullPage = true });
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }
}
