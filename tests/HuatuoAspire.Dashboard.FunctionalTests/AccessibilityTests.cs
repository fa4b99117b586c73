using HuatuoAspire.ScriptedLlm;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// The main pages, an evaluation and its run page checked in a real browser with axe-core (from tests/npm) for serious
/// or critical accessibility violations: labels, contrast, keyboard reach, names of controls.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class AccessibilityTests(DashboardFixture fixture)
{
    private static readonly string[] MainPages = ["/", "/data", "/training", "/runs", "/evaluations", "/chat", "/model", "/problems"];

    [Fact]
    public async Task TheMainPagesHaveNoSeriousOrCriticalAccessibilityViolationsInABrowser()
    {
        var axe = Path.Combine(Checkout.NpmFolder, "node_modules", "axe-core", "axe.min.js");
        Assert.True(File.Exists(axe), $"{axe} is missing: run npm install in tests/npm");
        await using var llm = await ScriptedChatServer.StartAsync(ScriptedBenchmark.Answer);
        var host = await fixture.HostAsync();
        var evaluation = await ScriptedBenchmark.EvaluateAsync(host.Browser, llm.BaseUrl);

        await using var chromium = await HeadlessChromium.LaunchAsync();
        // The dashboard's Content-Security-Policy allows no inline script; axe is injected by the test, not the page.
        var page = await chromium.NewPageAsync(host, bypassCsp: true);

        var problems = new List<string>();
        foreach (var path in MainPages.Append($"/evaluations/{evaluation}").Append($"/runs/{evaluation}"))
        {
            await page.GotoAsync(path);
            await page.AddScriptTagAsync(new() { Path = axe });
            var found = await page.EvaluateAsync<string[]>("""
                async () => (await axe.run(document, { resultTypes: ['violations'] })).violations
                    .filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('; ')}`)
                """);
            problems.AddRange(found.Select(f => $"{path}: {f}"));
        }
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }
}
