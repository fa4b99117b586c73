using System.Net;

namespace HuatuoAspire.TestSupport;

/// <summary>Waits for a health endpoint of a started host, as a client of the real system would.</summary>
public static class HostHealth
{
    /// <summary>
    /// Polls <paramref name="path"/> until it answers 200 or <paramref name="timeout"/> passes, and returns the last answer.
    /// The job servers register their first heartbeat a moment after start; the inference service answers 503
    /// (<c>model_not_loaded</c>) until its model is loaded, which takes longer on a busy 2-core machine.
    /// </summary>
    public static async Task<(HttpStatusCode Status, string Body)> WaitForHealthyAsync(
        HttpClient client, string path, TimeSpan? timeout = null)
    {
        async Task<(HttpStatusCode Status, string Body)> ReadAsync()
        {
            using var response = await client.GetAsync(path);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        try
        {
            return await Eventually.ReachesAsync(ReadAsync, answer => answer.Status == HttpStatusCode.OK, timeout ?? TimeSpan.FromSeconds(60), $"{path} to answer 200");
        }
        catch (TimeoutException)
        {
            // Callers assert on the last answer, whose body says why the service is not healthy.
            return await ReadAsync();
        }
    }
}
