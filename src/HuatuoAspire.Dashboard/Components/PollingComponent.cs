using Microsoft.AspNetCore.Components;

namespace HuatuoAspire.Dashboard.Components;

/// <summary>
/// A component that follows a run while it works: it reads once for the first render (prerendered too), then, once
/// interactive and while <see cref="Active"/>, reads again every <see cref="PollInterval"/> and redraws what changed,
/// without a reload. Polling ends with the run or with the circuit.
/// </summary>
public abstract class PollingComponent : ComponentBase, IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _polling;

    [Parameter] public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Whether more is to come (the run is queued or running).</summary>
    protected abstract bool Active { get; }

    /// <summary>Whether this instance polls: it is interactive and found the run active.</summary>
    protected bool Polling => _polling is not null;

    /// <summary>Reads the run's state; true when something changed.</summary>
    protected abstract Task<bool> ReadAsync(CancellationToken ct);

    protected override async Task OnInitializedAsync() => await ReadAsync(CancellationToken.None);

    protected override void OnAfterRender(bool firstRender)
    {
        // After-render runs only where the component is interactive (not while prerendering): poll from there, once
        // the first read (which may finish after the first render) says the run is active.
        if (_polling is not null || !Active) return;
        _polling = PollAsync(_stop.Token);
        StateHasChanged(); // Polling changed
    }

    private async Task PollAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(PollInterval);
        try
        {
            while (Active && await timer.WaitForNextTickAsync(ct))
            {
                if (await ReadAsync(ct)) await InvokeAsync(StateHasChanged);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_polling is not null) await _polling;
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
