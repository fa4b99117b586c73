using System.Net;

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>Waits for a health endpoint of a started host, as a client of the real system would.</summary>
internal static class HostHealth
{
    /// <summary>
    /// Polls <paramref name="path"/> until it answers 200 or <paramref name="timeout"/> passes, and returns the last answer.
    /// The job servers register their first heartbeat a moment after start; the inference service answers 503
    /// (<c>model_not_loaded</c>) until its model is loaded, which takes longer on a busy 2-core machine.
    /// </summary>
    public static async Task<(HttpStatusCode Status, string Body)> WaitForHealthyAsync(
        HttpClient client, string path, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            using var response = await client.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.OK || DateTime.UtcNow > deadline) return (response.StatusCode, body);
            await Task.Delay(250);
        }
    }
}
