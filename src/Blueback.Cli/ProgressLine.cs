using System.Diagnostics;

namespace Blueback.Cli;

/// <summary>A progress line on stderr: rewritten in place every quarter second on a terminal, a plain line every
/// five seconds otherwise (logs), nothing when quiet.</summary>
internal sealed class ProgressLine(bool quiet)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _terminal = !Console.IsErrorRedirected;
    private TimeSpan _last;

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>True when a line is due; the caller then builds it and calls <see cref="Write"/>.</summary>
    public bool Due => !quiet && _clock.Elapsed - _last >= TimeSpan.FromSeconds(_terminal ? 0.25 : 5);

    public void Write(string line)
    {
        _last = _clock.Elapsed;
        if (_terminal)
        {
            Console.Error.Write("\r" + line.PadRight(100));
        }
        else
        {
            Console.Error.WriteLine(line);
        }
    }

    public void Done()
    {
        if (_terminal && !quiet && _last > TimeSpan.Zero)
        {
            Console.Error.WriteLine();
        }
        _last = TimeSpan.Zero; // the line is finished: a second Done adds nothing
    }
}
