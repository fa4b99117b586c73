using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HuatuoAspire.AppHost.Infrastructure;

/// <summary>
/// A connection-string resource that lives inside an executable or container (a database on a server, the blob
/// service of Azurite) runs when its parent is ready: <paramref name="whenParentReady"/> prepares it (creates the
/// database), then it is published Running, so its health checks start and whatever <c>WaitFor</c>s it can go on.
/// It is published Finished when its parent stops.
/// </summary>
public static class ChildResourceState
{
    public static IResourceBuilder<T> RunsWithParent<T>(this IResourceBuilder<T> child, IResource parent,
        Func<CancellationToken, Task>? whenParentReady = null) where T : IResource
    {
        child.WithInitialState(new CustomResourceSnapshot
        {
            ResourceType = child.Resource.GetType().Name.Replace("Resource", ""),
            State = KnownResourceStates.Waiting,
            Properties = [new("parent", parent.Name)],
        });
        child.ApplicationBuilder.Eventing.Subscribe<ResourceReadyEvent>(parent, async (e, ct) =>
        {
            var notifications = e.Services.GetRequiredService<ResourceNotificationService>();
            var logger = e.Services.GetRequiredService<ResourceLoggerService>().GetLogger(child.Resource);
            try
            {
                if (whenParentReady is not null) await whenParentReady(ct);
                await notifications.PublishUpdateAsync(child.Resource, s => s with
                {
                    State = KnownResourceStates.Running,
                    StartTimeStamp = DateTime.UtcNow,
                });
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                logger.LogError(ex, "{Resource} could not be prepared on {Parent}: {Message}", child.Resource.Name, parent.Name, ex.Message);
                await notifications.PublishUpdateAsync(child.Resource, s => s with { State = KnownResourceStates.FailedToStart });
            }
        });
        child.ApplicationBuilder.Eventing.Subscribe<ResourceStoppedEvent>(parent, async (e, _) =>
            await e.Services.GetRequiredService<ResourceNotificationService>().PublishUpdateAsync(child.Resource, s => s with
            {
                State = KnownResourceStates.Finished,
                StopTimeStamp = DateTime.UtcNow,
            }));
        return child;
    }
}
