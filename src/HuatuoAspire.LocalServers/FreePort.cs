using System.Net;
using System.Net.Sockets;

namespace HuatuoAspire.LocalServers;

public static class FreePort
{
    /// <summary>A loopback port that was free a moment ago (the OS picks it).</summary>
    public static int Pick()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<bool> IsAcceptingAsync(int port, CancellationToken ct)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port, ct);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
