using System.Net;
using Bunit;
using HuatuoAspire.Dashboard.Components.Chat;
using HuatuoAspire.Dashboard.Services;
using Microsoft.Extensions.DependencyInjection;

namespace HuatuoAspire.Dashboard.FunctionalTests;

/// <summary>
/// The chat playground (/chat) on the all-in-one host's own inference service, rendered by bUnit on the host's services
/// (in a real browser it is a step of <see cref="AdminScenarioTests"/>).
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class ChatPageTests(DashboardFixture fixture)
{
    [Fact]
    public async Task TheChatPlaygroundStreamsAnAnswerFromTheServedTinyModelWithItsTokenCounts()
    {
        var host = await fixture.HostAsync();
        var (status, body) = await HostHealth.WaitForHealthyAsync(host.Browser, "/health/inference", TimeSpan.FromMinutes(2));
        Assert.True(status == HttpStatusCode.OK, $"/health/inference: {status} {body}");
        Assert.Contains("id=\"chat-prompt\"", await host.Browser.GetStringAsync("/chat"));
        Assert.Contains("<td>default</td>", await host.Browser.GetStringAsync("/model"));

        using var browser = new BunitContext();
        browser.JSInterop.Mode = JSRuntimeMode.Loose;
        browser.Services.AddSingleton(host.App.Services.GetRequiredService<ServedModelClient>());
        browser.SetRendererInfo(new Microsoft.AspNetCore.Components.RendererInfo("Server", isInteractive: true));
        var chat = browser.Render<ChatPlayground>();
        chat.WaitForAssertion(() => Assert.Equal("default", chat.Find("#chat-model").TextContent), TimeSpan.FromMinutes(1));
        Assert.Equal("yes", chat.Find("#chat").GetAttribute("data-interactive"));
        chat.Find("#chat-prompt").Change("Which drug clears the dormant liver stage of vivax malaria?");
        chat.Find("#chat-max-tokens").Change("12");
        chat.Find("#chat-temperature").Change("0");
        var rendersBefore = chat.RenderCount;
        chat.Find("#chat-form").Submit();

        chat.WaitForAssertion(() => Assert.Contains("done in", chat.Find("#turn-1 .figures").TextContent), TimeSpan.FromMinutes(2));
        var figures = chat.Find("#turn-1 .figures").TextContent;
        Assert.Matches(@"\d+ prompt tokens, 12 completion tokens; first token after [\d,]+ ms", figures);
        Assert.Empty(chat.FindAll("#turn-1 .error"));
        Assert.Contains("Which drug clears", chat.Find("#turn-0 .content").TextContent);
        var answer = chat.Find("#turn-1 .content").TextContent + string.Concat(chat.FindAll("#turn-1 .thinking pre").Select(e => e.TextContent));
        Assert.NotEmpty(answer);
        // Streamed: the answer was drawn piece by piece (a render per delta), not once at the end.
        Assert.True(chat.RenderCount - rendersBefore > 3, $"{chat.RenderCount - rendersBefore} renders");
    }
}
