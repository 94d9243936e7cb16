using Microsoft.Extensions.Logging;

namespace Blueback.Server.Policies;

/// <summary>A policy's shipper: a <c>blueback ship</c> child the server keeps running, restarted after a doubling pause
/// (at most a minute) when it exits, stopped with the policy or the server. Its status is what the console shows.</summary>
internal sealed class ShipperSupervisor
{
    private readonly Lock _lock = new();
    private Task? _task;
    private CancellationTokenSource? _stop;
    private DateTime _retryAt;
    private int _failures;

    /// <summary>What the shipper does now, in words; null before it first started.</summary>
    public string? Status { get; private set; }

    /// <summary>Whether the last run exited by itself (not stopped): an alert.</summary>
    public bool Exited => Status?.StartsWith("exited", StringComparison.Ordinal) == true;

    /// <summary>The running shipper's task, if one runs.</summary>
    public Task? Running
    {
        get
        {
            lock (_lock)
            {
                return _task;
            }
        }
    }

    /// <summary>Whether a shipper should be started now: none runs and its pause after an exit is over.</summary>
    public bool Due(DateTime now)
    {
        lock (_lock)
        {
            return _task is null && now >= _retryAt;
        }
    }

    /// <summary>Starts the shipper's program; it runs until <see cref="Stop"/>, the server's stop, or its own exit.</summary>
    public void Start(string policy, PolicyHostInfo host, List<string> args, CancellationToken stopping, ILogger logger)
    {
        lock (_lock)
        {
            var stop = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            _stop = stop;
            Status = "starting";
            _task = Task.Run(() => RunAsync(policy, host, args, stop, logger));
        }
    }

    /// <summary>Stops the shipper (a graceful stop of its program); returns at once.</summary>
    public void Stop()
    {
        lock (_lock)
        {
            _stop?.Cancel();
        }
    }

    private async Task RunAsync(string policy, PolicyHostInfo host, List<string> args, CancellationTokenSource stop, ILogger logger)
    {
        ChildResult? r = null;
        try
        {
            r = await ChildProgram.RunAsync(host.Program, args, host.ChildEnvironment, TimeSpan.FromDays(3650), pid => Status = $"running (pid {pid})", stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            Status = $"could not start: {ex.Message}";
        }
        lock (_lock)
        {
            if (r is not null)
            {
                _failures = r.Stopped ? 0 : _failures + 1;
                var wait = TimeSpan.FromSeconds(Math.Min(60, 2 * Math.Pow(2, Math.Min(5, _failures))));
                _retryAt = DateTime.UtcNow + wait;
                Status = r.Stopped ? "stopped" : $"exited ({r.Reason}); restarting at {_retryAt:HH:mm:ss} UTC";
                if (!r.Stopped)
                {
                    logger.LogWarning("Policy {Policy}: the shipper exited: {Reason}", policy, r.Reason);
                }
            }
            _task = null;
            _stop = null;
        }
        stop.Dispose();
    }
}
