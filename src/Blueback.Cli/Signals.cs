using System.Runtime.InteropServices;

namespace Blueback.Cli;

/// <summary>Ctrl+C and SIGTERM for a long command: the first asks it to stop (its token fires), the second exits
/// at once with 130. Cancellation runs on a thread of its own, never inside the signal handler.</summary>
internal sealed class Signals : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;
    private int _count;

    public Signals()
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
    }

    public CancellationToken Token => _cts.Token;

    public bool Signalled => Volatile.Read(ref _count) > 0;

    private void Handle(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Increment(ref _count) == 1)
        {
            // On a thread of its own, not the pool's global queue: while a backup keeps the pool's threads busy with
            // their own queued work, an item there waited seconds (a ^C at a backup's first second went unheeded
            // until the backup had finished, in fresh-clone CI runs).
            new Thread(static cts => ((CancellationTokenSource)cts!).Cancel()) { IsBackground = true, Name = "blueback-cancel" }.Start(_cts);
            return;
        }
        Console.Error.WriteLine("blueback: second signal, exiting at once.");
        Environment.Exit(Output.Cancelled);
    }

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _cts.Dispose();
    }
}
